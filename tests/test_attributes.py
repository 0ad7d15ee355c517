import pytest

from faceattr_nb import attributes as A


def test_forty_names_in_official_order():
    assert len(A.ATTRIBUTES) == 40 and len(set(A.ATTRIBUTES)) == 40
    assert A.ATTRIBUTES[0] == "5_o_Clock_Shadow" and A.ATTRIBUTES[-1] == "Young"
    assert A.ATTRIBUTES.index("Male") == 20


def test_groups_follow_gal_table1_and_cover_each_attribute_once():
    members = [a for g in A.GROUPS.values() for a in g]
    assert sorted(members) == sorted(A.ATTRIBUTES)
    assert list(A.GROUPS) == ["Global", "Hair", "Eye", "Nose", "Cheek&Ear", "Mouth", "Chin", "Neck"]
    assert [len(g) for g in A.GROUPS.values()] == [9, 10, 5, 2, 4, 5, 3, 2]
    assert A.group_of("Wearing_Necktie") == "Neck" and A.group_of("Mustache") == "Mouth"


def test_display_names_and_unknown_names():
    assert A.display_name("5_o_Clock_Shadow") == "5 o'Clock Shadow"
    assert A.DISPLAY_NAMES["No_Beard"] == "No Beard"
    with pytest.raises(ValueError, match="Beard"):
        A.attr_indices(["Beard"])
