# Independent check of ehr-ledger's key-wrap formats (docs/ingest.md) with Python's
# cryptography package: prints the known-answer vectors of client/tests/vectors,
# version 1 (a record's own key, bound to the record id) then version 2 (a key
# bound to its key id, which may serve several records of one patient).
import hashlib
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def seed_key(seed):
    d = hashlib.sha256(seed.encode()).digest()
    return ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256K1())

def compressed(pub):
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)

def wrap(version, eph, reader_pub, key_id, data_key):
    E, P = compressed(eph.public_key()), compressed(reader_pub)
    shared = eph.exchange(ec.ECDH(), reader_pub)          # x-coordinate
    info = b"ehr-ledger key wrap v%d" % version
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=E + P, info=info).derive(shared)
    aad = b"ehr-wrap-v%d" % version + key_id.encode()
    return bytes([version]) + E + AESGCM(okm[:32]).encrypt(okm[32:], data_key, aad)

def unwrap(reader, key_id, wrapped):
    version, E = wrapped[0], wrapped[1:34]
    eph_pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), E)
    shared = reader.exchange(ec.ECDH(), eph_pub)
    info = b"ehr-ledger key wrap v%d" % version
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=E + compressed(reader.public_key()), info=info).derive(shared)
    return AESGCM(okm[:32]).decrypt(okm[32:], wrapped[34:], b"ehr-wrap-v%d" % version + key_id.encode())

eph, reader = seed_key("ephemeral"), seed_key("reader")
for version, key_id in [(1, "rec-1"), (2, "k-000102030405060708090a0b0c0d0e0f")]:
    w = wrap(version, eph, reader.public_key(), key_id, b"\x42" * 32)
    assert unwrap(reader, key_id, w) == b"\x42" * 32
    print(w.hex())
