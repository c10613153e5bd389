import pytest

from provider.attributes import Kind, pack, parse_template, unpack
from provider.constants import Attribute, ObjectClass, ReturnValue
from provider.errors import CkError


def test_pack_unpack():
    assert unpack(Kind.ULONG, pack(Kind.ULONG, 0x1234)) == 0x1234
    assert len(pack(Kind.ULONG, 1)) == 8  # CK_ULONG is unsigned long on LP64
    assert pack(Kind.BOOL, True) == b"\x01"
    assert unpack(Kind.TEXT, "é".encode()) == "é"


@pytest.mark.parametrize(("kind", "raw"), [(Kind.BOOL, b""), (Kind.ULONG, b"\x00" * 4), (Kind.DATE, b"2024")])
def test_bad_values(kind, raw):
    with pytest.raises(CkError) as info:
        unpack(kind, raw)
    assert info.value.rv == ReturnValue.ATTRIBUTE_VALUE_INVALID


def test_parse_template():
    template = parse_template([(Attribute.CLASS, pack(Kind.ULONG, ObjectClass.DATA)), (Attribute.LABEL, b"x")])
    assert template == {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: "x"}
    with pytest.raises(CkError) as info:
        parse_template([(0x7FFF_0000, b"")])
    assert info.value.rv == ReturnValue.ATTRIBUTE_TYPE_INVALID
    with pytest.raises(CkError) as info:
        parse_template([(Attribute.LABEL, b"a"), (Attribute.LABEL, b"b")])
    assert info.value.rv == ReturnValue.TEMPLATE_INCONSISTENT
