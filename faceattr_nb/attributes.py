"""The 40 CelebA attributes, their display names and the 8 location groups.

The order is the column order of CelebA's ``list_attr_celeba.txt``; every
tensor of labels or logits in the course uses it (A = 40). The groups are
Table 1 of the GAL paper ("Custom Pre-classification of Nodes"), where the
paper's "Mouse" group is spelled "Mouth". Used in every notebook.
"""

ATTRIBUTES: list[str] = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes",
    "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie",
    "Young",
]
NUM_ATTRS = len(ATTRIBUTES)

# GAL Table 1: each attribute sits in the group where it lives on a face.
GROUPS: dict[str, list[str]] = {
    "Global": ["Attractive", "Blurry", "Chubby", "Heavy_Makeup", "Male",
               "Oval_Face", "Pale_Skin", "Smiling", "Young"],
    "Hair": ["Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair",
             "Gray_Hair", "Receding_Hairline", "Straight_Hair", "Wavy_Hair",
             "Wearing_Hat"],
    "Eye": ["Arched_Eyebrows", "Bags_Under_Eyes", "Bushy_Eyebrows",
            "Eyeglasses", "Narrow_Eyes"],
    "Nose": ["Big_Nose", "Pointy_Nose"],
    "Cheek&Ear": ["High_Cheekbones", "Rosy_Cheeks", "Sideburns",
                  "Wearing_Earrings"],
    "Mouth": ["5_o_Clock_Shadow", "Big_Lips", "Mouth_Slightly_Open",
              "Mustache", "Wearing_Lipstick"],
    "Chin": ["Double_Chin", "Goatee", "No_Beard"],
    "Neck": ["Wearing_Necklace", "Wearing_Necktie"],
}
GROUP_NAMES: list[str] = list(GROUPS)  # G = 8

# The six attributes of the FaceNet report, in its order.
FACENET_ATTRIBUTES: list[str] = [
    "Male", "Mustache", "Eyeglasses", "No_Beard", "Wearing_Hat", "Bald",
]


def check_attrs(attrs: list[str]) -> list[str]:
    """Return ``attrs`` unchanged, or raise ValueError naming the unknown ones."""
    unknown = [a for a in attrs if a not in ATTRIBUTES]
    if unknown:
        raise ValueError(
            f"unknown CelebA attribute(s) {unknown}; valid names are spelled as "
            f"in list_attr_celeba.txt, e.g. {ATTRIBUTES[:3]} (see faceattr_nb.attributes.ATTRIBUTES)"
        )
    return list(attrs)


def display_name(attr: str) -> str:
    """'5_o_Clock_Shadow' -> '5 o'Clock Shadow', 'No_Beard' -> 'No Beard'."""
    check_attrs([attr])
    if attr == "5_o_Clock_Shadow":
        return "5 o'Clock Shadow"
    return attr.replace("_", " ")


DISPLAY_NAMES: dict[str, str] = {a: display_name(a) for a in ATTRIBUTES}


def attr_indices(attrs: list[str]) -> list[int]:
    """Column indices of ``attrs`` in the official order."""
    return [ATTRIBUTES.index(a) for a in check_attrs(attrs)]


def group_of(attr: str) -> str:
    """The Table 1 group of one attribute."""
    check_attrs([attr])
    return next(g for g, members in GROUPS.items() if attr in members)


def group_index(attrs: list[str] | None = None) -> list[int]:
    """For each attribute (default: all 40), the index of its group in GROUP_NAMES."""
    return [GROUP_NAMES.index(group_of(a)) for a in (attrs or ATTRIBUTES)]
