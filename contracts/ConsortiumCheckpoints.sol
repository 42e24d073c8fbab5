// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// The consortium's state, checkpointed on a public chain: the app hash after
/// a block of the consortium's chain, accepted when signers holding more than
/// two thirds of the signing power signed it. Anyone who trusts this chain and
/// this contract's signer set can then check a state proof against it, and
/// anyone sees it if the signers ever sign a second history.
///
/// A checkpoint is a statement, "after block `height` of chain `chainId` the
/// app hash was `appHash`": it binds no contract, so a true statement may be
/// written anywhere; a false one needs more than two thirds of the power.
contract ConsortiumCheckpoints {
    /// keccak256 of the consortium's CometBFT chain id.
    bytes32 public immutable chainId;
    /// The Ethereum block the contract was created in: an audit reads its
    /// events from there, so that none is left out and none before it read.
    uint64 public immutable deployedAt;

    /// What each signer signs, domain-separated from anything else its key signs.
    bytes32 private constant CHECKPOINT_DOMAIN = keccak256("ehr-ledger checkpoint v1");
    bytes32 private constant SIGNERS_DOMAIN = keccak256("ehr-ledger checkpoint signers v1");

    mapping(address => uint64) public power;
    address[] private signerList;
    uint64 public totalPower;
    /// Counts signer-set changes; a change signs the nonce it moves from.
    uint64 public signerSetNonce;

    /// The app hash after each checkpointed height; zero where none.
    mapping(uint64 => bytes32) public appHashAt;
    /// The highest height checkpointed.
    uint64 public latestHeight;
    /// A second app hash signed for a height already checkpointed: the
    /// signers signed two histories. Zero where none.
    mapping(uint64 => bytes32) public conflictAt;
    /// The first height at which two histories were signed; zero while none.
    uint64 public firstConflict;

    event Checkpointed(uint64 indexed height, bytes32 appHash, uint64 signedPower, address submitter);
    event HistoryRewritten(uint64 indexed height, bytes32 checkpointed, bytes32 rewritten, address submitter);
    event SignersChanged(uint64 nonce, address[] signers, uint64[] powers);

    error NoSigners();
    error BadSignerSet(uint256 index);
    error BadSignatureLength(uint256 length);
    error BadSignature(uint256 index);
    error SignersNotAscending(uint256 index);
    error NotASigner(address signer);
    error NotEnoughPower(uint64 signed, uint64 total);
    error ZeroAppHash();
    error ZeroHeight();
    error AlreadyCheckpointed(uint64 height);

    constructor(bytes32 chainId_, address[] memory initialSigners, uint64[] memory initialPowers) {
        chainId = chainId_;
        deployedAt = uint64(block.number);
        _setSigners(initialSigners, initialPowers);
    }

    function signers() external view returns (address[] memory list, uint64[] memory powers) {
        list = signerList;
        powers = new uint64[](list.length);
        for (uint256 i = 0; i < list.length; i++) {
            powers[i] = power[list[i]];
        }
    }

    /// The digest a signer signs for a checkpoint.
    function checkpointDigest(uint64 height, bytes32 appHash) public view returns (bytes32) {
        return keccak256(abi.encode(CHECKPOINT_DOMAIN, chainId, height, appHash));
    }

    /// The digest a signer signs to move this contract's signer set on from
    /// `nonce`: bound to this contract on this chain, so a change signed for
    /// one copy of the contract cannot be replayed on another.
    function signersDigest(uint64 nonce, address[] memory newSigners, uint64[] memory powers)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(SIGNERS_DOMAIN, block.chainid, address(this), chainId, nonce, newSigners, powers)
        );
    }

    /// Writes the app hash after block `height`, with 65-byte signatures
    /// (r, s, v) in ascending order of their signers' addresses. A second,
    /// different app hash for a checkpointed height is kept as evidence
    /// (HistoryRewritten) and does not replace the first.
    function submit(uint64 height, bytes32 appHash, bytes calldata signatures) external {
        if (appHash == bytes32(0)) revert ZeroAppHash();
        // Zero means "none" in what the contract answers.
        if (height == 0) revert ZeroHeight();
        bytes32 existing = appHashAt[height];
        if (existing == appHash || (existing != bytes32(0) && conflictAt[height] != bytes32(0))) {
            revert AlreadyCheckpointed(height);
        }
        uint64 signed = _signedPower(checkpointDigest(height, appHash), signatures);
        if (existing == bytes32(0)) {
            appHashAt[height] = appHash;
            if (height > latestHeight) latestHeight = height;
            emit Checkpointed(height, appHash, signed, msg.sender);
        } else {
            conflictAt[height] = appHash;
            if (firstConflict == 0 || height < firstConflict) firstConflict = height;
            emit HistoryRewritten(height, existing, appHash, msg.sender);
        }
    }

    /// The newest checkpoint: its height and app hash (zero, zero while none).
    function latest() external view returns (uint64 height, bytes32 appHash) {
        return (latestHeight, appHashAt[latestHeight]);
    }

    /// Replaces the signer set, signed by more than two thirds of the current one.
    function changeSigners(address[] calldata newSigners, uint64[] calldata powers, bytes calldata signatures)
        external
    {
        _signedPower(signersDigest(signerSetNonce, newSigners, powers), signatures);
        signerSetNonce += 1;
        _setSigners(newSigners, powers);
    }

    function _setSigners(address[] memory newSigners, uint64[] memory powers) private {
        if (newSigners.length == 0 || newSigners.length != powers.length) revert NoSigners();
        for (uint256 i = 0; i < signerList.length; i++) {
            delete power[signerList[i]];
        }
        uint64 total = 0;
        for (uint256 i = 0; i < newSigners.length; i++) {
            address s = newSigners[i];
            if (s == address(0) || powers[i] == 0 || power[s] != 0) revert BadSignerSet(i);
            power[s] = powers[i];
            total += powers[i];
        }
        signerList = newSigners;
        totalPower = total;
        emit SignersChanged(signerSetNonce, newSigners, powers);
    }

    /// The power behind `digest`; reverts unless more than two thirds.
    function _signedPower(bytes32 digest, bytes calldata signatures) private view returns (uint64 signed) {
        if (signatures.length % 65 != 0) revert BadSignatureLength(signatures.length);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length / 65; i++) {
            bytes32 r = bytes32(signatures[i * 65:i * 65 + 32]);
            bytes32 s = bytes32(signatures[i * 65 + 32:i * 65 + 64]);
            uint8 v = uint8(signatures[i * 65 + 64]);
            // Low s only, as EIP-2 asks of transactions: one signature per signer and message.
            if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) revert BadSignature(i);
            address signer = ecrecover(digest, v, r, s);
            if (signer == address(0)) revert BadSignature(i);
            if (signer <= previous) revert SignersNotAscending(i);
            uint64 p = power[signer];
            if (p == 0) revert NotASigner(signer);
            signed += p;
            previous = signer;
        }
        // More than two thirds, in integers.
        if (3 * uint256(signed) <= 2 * uint256(totalPower)) revert NotEnoughPower(signed, totalPower);
    }
}
