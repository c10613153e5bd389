"""Power-on self tests: known-answer tests of the algorithms in use (FIPS 140-3 IG 10.3.A CASTs, in spirit).

Each test computes a published answer — NIST SP 800-38A/38D samples, RFC 3394, RFC 4231, FIPS 180-4, RFC 5869,
the OASIS KMIP 2.1 RSA-OAEP test case — through the same `cryptography` calls the layer uses, plus pairwise
sign/verify for RSA and ECDSA. The whole suite runs in a few milliseconds (budget: 200 ms).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kms_backend.kmip._registry_data import CryptographicAlgorithm, ResultReason

from ._common import fail

# Fixed keys are public by design: a self test must reproduce a published answer.
# RSA-2048 private key (PKCS#1) and ciphertext from OASIS KMIP 2.1 test case CS-AC-M-OAEP-10-21 (Copyright (c)
# OASIS Open 2020): OAEP with SHA-384, MGF1-SHA-256 and label "Kilroy was here".
_RSA_KEY_PKCS1 = bytes.fromhex(
    "308204a4020100028201010096ed9882e639115e6502348aed486317b6d8cbed47d4250a7261a829b2b1ef9a0dabc35861b9d599d8d2"
    "761364128976425e166a8e7fcc99f4a225b171b6887ce29031d114cd6b3b9b87f0443f4c327905458f72e326874fd9af16986477b33c"
    "43a20f8c9653b2cce47492d9e63cf6713c3a9026d000ebd19310168d209ebfa7b58138c580e8c80954d0f5dd65fa24be9f5d0b5d79f8"
    "eb65eb84eb4a14ff97851f1c7630802bd106d8dcc2096989d02c7a67f05552e394827d19929a3ff9adb1d73f26dc3c98ce376f5bf888"
    "e82aa5868c2e0e7fe1cab6d691009da7ee0e483157158c280222acdbec0e1646750614d310929113e2560a108bf1299bdcd7747d0203"
    "01000102820100117275e6ebe63cf3c48974b97aa49b8fea3b3597c06dedba3f6eba99d7666a644ca0467cb90f5a79e66eade79ff1e4"
    "a21f19f14d701ba5f3462c585f22de0ef920d7ba6a8915160855fa68f3fabd3c38713b91519ea09d93c57e50065dd6d88966e81d140b"
    "6cb186ae022bd7b49de77f3f8f258ad710c431fde626353a481faf7e01c10fedd103ea5e2a20c86067ef323fbc0353d41d63adc51355"
    "d8698f34c9d084f3d93ea5f9461ef66a6401abea4566f5bc11551d11152123917706d78ab95668b673b0c73f3fe480659a047a71ef63"
    "313bc8935ae0bc3959939a0193835024e39b1c816d63de8dbda1a0a728fc1cba8c66fc079c8b07f39559af6ca42f0102818100c499b8"
    "f60d5989746b60939ae5d6466962197aef212a0db5eb618f07fe0e35e21bf6d445bd5e571b71c83a3e4cb84f683918a0b87adcd6d7be"
    "eb3fca9b87d9437d78f694557bc3d47e96e8ff83c958018ec70bfec998804d41eb21db99f6bd07cf3621dd6e70f4907a259ea2199208"
    "613bc655a804ca9c6ec1c5ff8918d12b0902818100c4874b4f5aa8538d8af15d945e9be842e4a7c08dfe7a42aee4cc375df415640904"
    "451cfa15d1cdda5d31f34d45e928986ba52c3b373c539fdacfe428d70b52a4eb2419277d50f1466debeab0ca24886390fae9d7e611a2"
    "b2993a59e2dc6bb874225f8ce3b2fcf6563421cc4ffd0dc119bff1c17d36bbba40c9fd4d0df4d4f6d50281810081befd8d0cc4616d7e"
    "8bcefdf3ded4bb29adad2ef191225943cd2faad3a4a734e0c5a5d39ca50d11a4a6c2a168da5e356730f4a8ab14e188a28bf89e8ac43d"
    "c347a433ff32e72a172bb00676d28f675027dcfef29832d7c1a4d63b9304ea0c58820cb48ec11b349bc0b0e11f13870796bbef298a68"
    "171ae41167cd3bba30189902818100aafdc033aa003cba3142b2160e7efe057da6cb2d805565c17fc68301d705e984c2d7534ff03e1c"
    "2a3adde3ffbead0faa16369f166287b586a73e2c18b089e47d232dc4490c8aa9728adf31d261fe89407ffb200cbddb6840967b238bf4"
    "163165b2268a91eec093a00b39c0e773984d039772c3d3ab14890827f6a0dd5cc112850281805205e5b103124de9aa55980b26c6fbd9"
    "3b7d3b9ec3ad5df3a7eff2d51f6a14902137ce532bb10a2d1b52ea72a51b3c516cec5d8000282b87552f9eab4f18dc6756c4d18caeda"
    "4edeb4cb9ce510a0e0d636ff43177d768281830c7cd826d242348bfdb982827365a3d8cdb8f58336377e9ff9ce9f7c4d1b8f2c6a8c93"
    "bcbaecd1"
)
_RSA_OAEP_CIPHERTEXT = bytes.fromhex(
    "513154e0e97ee30cd8848ef9b7e077a49aba39da94425c64ef1badf197d7721024598082d7b925105510c98549d632d37ce73ee85d86"
    "d0a79b418903fa51cd65289d5fb19a5fc28b926f268e47328dfeb378ad021b01964094ed5898b95a284c43ec0dae6759c1da85b8ab5a"
    "73fd617aa2867619939dd4f707b934adf4671a387d7ba15c469fb89b0d99ed472b8eacdcd9cb71411c8d6c13b85101ab6949d464da02"
    "0ac23c1cf1d76e037d1aecbed87718496a573d87720a7f4c5e4512769d3ddcd191194270499ea31f107202dc134cd08c41f09ad3cc83"
    "cf03b93bea7c06a0c2fd40afa16cf9b074bbb278de2a5aae374346d262eec88618f4c4b844c003b7"
)
_RSA_OAEP_PLAINTEXT = bytes.fromhex("6628194e12073db03ba94cda9ef9532397d50dba79b987004afefe34")
_RSA_PKCS1_SHA256_SIGNATURE = bytes.fromhex(
    "66a024a5850bfd9478b12e88211a59dcb34ca879944ee579ac4508fbf68866ca24ecd13abed3be9152d7cfaf61ba5ab489e5031e1ea9"
    "69c7310873ef66b7b9a687790862f7bc1446bcb2d34e1c74e008a3060172f4b77e5f74ef4ff0f4330cd23c775e9873539606736c749f"
    "5c16ac0e20fec1d990f8adf9fe2a0de913281ef835e92567e659285ef8b70318a0773efc578c48d0eda8825397e16fef67d36d1e4d80"
    "7d022672ff5ab0358e5b9045588d2de2eb65a343a68f0b55e9d125152f95f98ad288a014214510202e972c5733662d2d8be43e41edbb"
    "66d844c1c7d12e677ce8fee512290ab05008ed2fa2bba1199ab3e3f086d3d5f4b43d28fc34619f75"
)


def _expect(name: str, condition: bool) -> None:
    if not condition:
        fail(ResultReason.CRYPTOGRAPHIC_FAILURE, f"power-on self test failed: {name}")


def _aes_gcm() -> None:
    # SP 800-38D / McGrew-Viega GCM spec, test case 2 (zero key, zero IV, one zero block).
    sealed = AESGCM(bytes(16)).encrypt(bytes(12), bytes(16), None)
    _expect("AES-GCM", sealed == bytes.fromhex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"))
    _expect("AES-GCM decrypt", AESGCM(bytes(16)).decrypt(bytes(12), sealed, None) == bytes(16))


def _aes_cbc() -> None:
    # SP 800-38A §F.2.1 CBC-AES128.Encrypt, first block.
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    ctx = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    out = ctx.update(bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")) + ctx.finalize()
    _expect("AES-CBC", out == bytes.fromhex("7649abac8119b246cee98e9b12e9197d"))


def _aes_kw() -> None:
    # RFC 3394 §4.1: 128 bits of key data with a 128-bit KEK.
    kek = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    data = bytes.fromhex("00112233445566778899aabbccddeeff")
    wrapped = keywrap.aes_key_wrap(kek, data)
    _expect("AES-KW", wrapped == bytes.fromhex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"))
    _expect("AES-KW unwrap", keywrap.aes_key_unwrap(kek, wrapped) == data)


def _sha256() -> None:
    # FIPS 180-4 example "abc".
    h = hashes.Hash(hashes.SHA256())
    h.update(b"abc")
    _expect("SHA-256", h.finalize().hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def _hmac_sha256() -> None:
    # RFC 4231 §4.3, test case 2.
    h = crypto_hmac.HMAC(b"Jefe", hashes.SHA256())
    h.update(b"what do ya want for nothing?")
    expected = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    _expect("HMAC-SHA-256", hmac.compare_digest(h.finalize(), expected))


def _hkdf() -> None:
    # RFC 5869 §A.1, test case 1.
    okm = HKDF(hashes.SHA256(), 42, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA))).derive(b"\x0b" * 22)
    expected = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    _expect("HKDF-SHA-256", okm.hex() == expected)


def _rsa() -> None:
    # A fixed, known-good key: skipping the (35 ms) RSA consistency check is what keeps the suite fast.
    key = serialization.load_der_private_key(_RSA_KEY_PKCS1, password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA384(), b"Kilroy was here")
    _expect("RSA-OAEP decrypt", key.decrypt(_RSA_OAEP_CIPHERTEXT, oaep) == _RSA_OAEP_PLAINTEXT)
    signature = key.sign(_MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    _expect("RSA PKCS#1 v1.5 sign", signature == _RSA_PKCS1_SHA256_SIGNATURE)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    try:
        key.public_key().verify(key.sign(_MESSAGE, pss, hashes.SHA256()), _MESSAGE, pss, hashes.SHA256())
    except Exception:
        _expect("RSA-PSS pairwise", False)


def _ecdsa() -> None:
    # Pairwise consistency on P-256 with a fixed scalar (ECDSA signatures are randomized).
    key = ec.derive_private_key(0x1F2E3D4C5B6A79881F2E3D4C5B6A7988, ec.SECP256R1())
    signature = key.sign(_MESSAGE, ec.ECDSA(hashes.SHA256()))
    try:
        key.public_key().verify(signature, _MESSAGE, ec.ECDSA(hashes.SHA256()))
    except Exception:
        _expect("ECDSA P-256 pairwise", False)


_MESSAGE = b"Keystead power-on self test"
_HMACS = {
    CryptographicAlgorithm.HMAC_SHA1,
    CryptographicAlgorithm.HMAC_SHA224,
    CryptographicAlgorithm.HMAC_SHA256,
    CryptographicAlgorithm.HMAC_SHA384,
    CryptographicAlgorithm.HMAC_SHA512,
}
#: Each self test and the algorithms whose use triggers it.
SELF_TESTS: tuple[tuple[str, frozenset[CryptographicAlgorithm], Callable[[], None]], ...] = (
    ("SHA-256", frozenset(), _sha256),  # always: every other test and the KDFs rely on it
    ("AES-GCM", frozenset({CryptographicAlgorithm.AES}), _aes_gcm),
    ("AES-CBC", frozenset({CryptographicAlgorithm.AES}), _aes_cbc),
    ("AES-KW", frozenset({CryptographicAlgorithm.AES}), _aes_kw),
    ("HMAC-SHA-256", frozenset(_HMACS), _hmac_sha256),
    ("HKDF-SHA-256", frozenset({CryptographicAlgorithm.ECDH, CryptographicAlgorithm.EC}), _hkdf),
    ("RSA", frozenset({CryptographicAlgorithm.RSA}), _rsa),
    ("ECDSA", frozenset({CryptographicAlgorithm.EC, CryptographicAlgorithm.ECDSA}), _ecdsa),
)


def run_self_tests(algorithms_in_use: Iterable[CryptographicAlgorithm] | None = None) -> float:
    """Run the known-answer and pairwise tests (all, or those for ``algorithms_in_use``); return the seconds
    taken. Raises ``KmipError(CRYPTOGRAPHIC_FAILURE, "power-on self test failed: …")`` on the first failure; a
    server must then refuse cryptographic service.
    """
    wanted = None if algorithms_in_use is None else frozenset(algorithms_in_use)
    start = time.perf_counter()
    for _name, triggers, test in SELF_TESTS:
        if wanted is None or not triggers or triggers & wanted:
            test()
    return time.perf_counter() - start
