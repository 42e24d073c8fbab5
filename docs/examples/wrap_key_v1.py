# Independent check of ehr-ledger's key-wrap format (docs/ingest.md) with Python's cryptography.
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

eph, reader = seed_key("ephemeral"), seed_key("reader")
E, P = compressed(eph.public_key()), compressed(reader.public_key())
shared = eph.exchange(ec.ECDH(), reader.public_key())          # x-coordinate
okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=E + P, info=b"ehr-ledger key wrap v1").derive(shared)
ct = AESGCM(okm[:32]).encrypt(okm[32:], b"\x42" * 32, b"ehr-wrap-v1" + b"rec-1")
print((b"\x01" + E + ct).hex())
