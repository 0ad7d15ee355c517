"""The numbers the course's sources report, as tidy tables with their source named.

Copied numbers only: each table below is the text of the paper's table as it
reads in the published text (README, "Papers"), pasted as a literal block with a
comment naming paper and table; a parser turns it into one tidy DataFrame
with the columns of ``COLUMNS``:

* ``source``  short key of ``SOURCES`` ("gal", "pse", "blan", "facenet", "transfer");
* ``table``   the table (or figure / section) as the source names it, e.g. "Table 4";
* ``dataset`` the test data: "CelebA", "LFWA";
* ``setting`` conditions a row depends on ("w/ OS", "type-B, 5-fold", "train LFWA"), else "";
* ``method``  the method as the source names it (GAL's "AFFECT" is spelled AFFACT);
* ``attribute`` a CelebA name of ``faceattr_nb.attributes.ATTRIBUTES`` or None for a summary row;
* ``metric``  "accuracy", "f1", "mean_accuracy", "recall", "precision", "hamming_score",
  "hamming_loss", "ms_per_image", "params_millions";
* ``value``, ``std`` (NaN where none is given) and ``unit`` ("%", "fraction", "ms", "M").

The papers spell attributes their own way ("5 Shadow", "Bags Un Eyes",
"H. Cheekbones"); ``PAPER_SPELLINGS`` maps every spelling to the CelebA name.
Values keep the source's unit: percentages for the papers, fractions for the
transfer report; compare with our fractions times 100. Used in notebook 07.
"""
import math

import pandas as pd

from faceattr_nb.attributes import ATTRIBUTES

SOURCES: dict[str, str] = {
    "gal": "Zhang & Sun (2019) Exploring Correlations for Multiple Facial Attributes Recognition "
           "through Graph Attention Network",
    "pse": "Position-Squeeze and Excitation module in a DMTL network (PSE), CelebA and LFWA",
    "blan": "Bi-directional Ladder Attentive Network (BLAN) for facial attribute prediction",
    "facenet": "Oussaid, internship report: Face Attributes Detection using Multi-task Deep Learning (FaceNet)",
    "transfer": "Lee and Sike, Unveiling Facial Attributes with Convolutional Neural Networks (CNN, Xception)",
}
COLUMNS = ["source", "table", "dataset", "setting", "method", "attribute", "metric", "value", "std", "unit"]

# Every spelling of an attribute in the sources' tables -> the CelebA name.
# Lines marked "OCR" are misreadings in our text copy of the PSE paper.
PAPER_SPELLINGS: dict[str, str] = {
    "5 Shadow": "5_o_Clock_Shadow", "Arched Eyebrows": "Arched_Eyebrows", "Attractive": "Attractive",
    "Bags Un Eyes": "Bags_Under_Eyes", "Bald": "Bald", "Bangs": "Bangs", "Big Lips": "Big_Lips",
    "Big Nose": "Big_Nose", "Black Hair": "Black_Hair", "Blonde Hair": "Blond_Hair", "Blurry": "Blurry",
    "Brown Hair": "Brown_Hair", "Bushy Eyebrows": "Bushy_Eyebrows", "Chubby": "Chubby",
    "Double Chin": "Double_Chin", "Eyeglasses": "Eyeglasses", "Goatee": "Goatee", "Gray Hair": "Gray_Hair",
    "Heavy Makeup": "Heavy_Makeup", "H. Cheekbones": "High_Cheekbones", "Male": "Male",
    "Mouth S. O.": "Mouth_Slightly_Open", "Mustache": "Mustache", "Narrow Eyes": "Narrow_Eyes",
    "No Beard": "No_Beard", "No bread": "No_Beard",  # OCR
    "Oval Face": "Oval_Face", "Pale Skin": "Pale_Skin", "Pointy Nose": "Pointy_Nose",
    "Reced. Hairline": "Receding_Hairline", "Rosy Cheeks": "Rosy_Cheeks", "Sideburns": "Sideburns",
    "Smiling": "Smiling", "Smiliing": "Smiling",  # OCR
    "Straight Hair": "Straight_Hair", "Wavy Hair": "Wavy_Hair", "Wear. Earrings": "Wearing_Earrings",
    "Wear. Hat": "Wearing_Hat", "Wear. Lipstick": "Wearing_Lipstick", "Wear. Necklace": "Wearing_Necklace",
    "Wear. Necktie": "Wearing_Necktie", "Wear. Nectile": "Wearing_Necktie",  # OCR
    "Young": "Young",
    # FaceNet report: its six attributes by the report's names.
    "gender": "Male", "mustache": "Mustache", "eyeglasses": "Eyeglasses", "beard": "No_Beard",
    "hat": "Wearing_Hat", "bald": "Bald",
}

# GAL, Table 4 "Comparison on CelebA Dataset" (accuracy %, CelebA test set).
# The paper heads the third column "AFFECT"; the method is AFFACT (Günther et al. 2016).
GAL_TABLE4 = """\
attribute\tMCNN-AUX\tDMTL\tAFFACT\tGAL-j
5 Shadow\t94.51\t95.00\t94.21\t94.80
Arched Eyebrows\t83.42\t86.00\t82.12\t84.16
Attractive\t83.06\t85.00\t82.83\t82.89
Bags Un Eyes\t84.92\t85.00\t83.75\t85.29
Bald\t98.90\t99.00\t99.06\t98.90
Bangs\t96.05\t99.00\t96.05\t96.13
Big Lips\t71.47\t96.00\t70.88\t71.81
Big Nose\t84.53\t85.00\t83.82\t84.35
Black Hair\t89.78\t91.00\t90.32\t90.34
Blonde Hair\t96.01\t96.00\t96.07\t95.98
Blurry\t96.17\t96.00\t95.50\t96.22
Brown Hair\t89.15\t88.00\t89.16\t89.15
Bushy Eyebrows\t92.84\t92.00\t92.41\t92.88
Chubby\t95.67\t96.00\t94.98\t95.75
Double Chin\t96.32\t97.00\t96.18\t96.40
Eyeglasses\t99.63\t99.00\t99.61\t99.55
Goatee\t97.24\t99.00\t97.31\t97.40
Gray Hair\t98.20\t98.00\t98.28\t98.34
Heavy Makeup\t91.55\t92.00\t91.10\t91.80
H. Cheekbones\t87.58\t88.00\t86.88\t87.98
Male\t98.17\t98.00\t98.26\t98.17
Mouth S. O.\t93.74\t94.00\t92.60\t93.92
Mustache\t96.88\t97.00\t96.89\t96.83
Narrow Eyes\t87.23\t90.00\t87.23\t87.57
No Beard\t96.05\t97.00\t95.99\t96.21
Oval Face\t75.84\t78.00\t75.79\t75.78
Pale Skin\t97.05\t97.00\t97.04\t97.22
Pointy Nose\t77.47\t78.00\t74.83\t77.61
Reced. Hairline\t93.81\t94.00\t93.29\t93.76
Rosy Cheeks\t95.16\t96.00\t94.45\t95.22
Sideburns\t97.85\t98.00\t97.83\t97.93
Smiling\t92.73\t94.00\t91.77\t92.98
Straight Hair\t83.58\t85.00\t84.10\t83.67
Wavy Hair\t83.91\t87.00\t85.65\t84.32
Wear. Earrings\t90.43\t91.00\t90.20\t90.34
Wear. Hat\t99.05\t99.00\t99.02\t99.05
Wear. Lipstick\t94.11\t93.00\t91.69\t94.18
Wear. Necklace\t86.63\t89.00\t87.85\t86.96
Wear. Necktie\t96.51\t97.00\t96.90\t96.62
Young\t88.48\t90.00\t88.66\t88.57
Average\t91.29\t92.60\t91.01\t91.43
"""

# GAL, Table 2 "Results on CelebA Dataset" (mean accuracy %).
GAL_TABLE2 = {"Baseline": 90.73, "GAL-c": 90.89, "GAL-j": 91.43, "GAL-p": 90.13}
# GAL, Table 3 "Comparison on LFWA Dataset" (mean accuracy %).
GAL_TABLE3 = {"LNets-ANet": 84, "MCNN-AUX": 86.3, "Baseline": 85.19, "GAL-j": 85.25}

# PSE, Table 1 "Results on CelebA" (accuracy %). The column heads are unreadable in
# our copy; their order follows Section 4.3.3 (LNets+ANet, MCNN-AUX, DMTL, AFFACT,
# PaW, HRP), then SSP+SSG, whose only value is the average 81.45 (Section 4.3.3:
# PSE is 9.78 points above it), then Section 4.2's six variants in the order of
# their means in Section 4.3.1 (90.40, 91.10, 91.13; 90.98, 91.23, 91.23).
# Two cells repaired from the copy: Attractive/PSE(b)-Alex reads "8227" (82.27),
# and the Arched Eyebrows row lacks SSP+SSG's "-" (restored: with it every
# column mean matches the Average row).
PSE_TABLE1 = """\
attribute\tLNets+ANet\tMCNN-AUX\tDMTL\tAFFACT\tPaW\tHRP\tSSP+SSG\tBaseline-Alex\tPSE(a)-Alex\tPSE(b)-Alex\tBaseline-SE\tPSE(a)-SE\tPSE(b)-SE
5 Shadow\t91.00\t94.51\t95.00\t94.21\t94.64\t93.96\t-\t94.08\t94.57\t94.59\t94.36\t94.85\t94.45
Arched Eyebrows\t79.00\t83.42\t86.00\t82.12\t83.01\t83.39\t-\t82.87\t83.33\t83.74\t83.33\t83.75\t82.93
Attractive\t81.00\t83.06\t85.00\t82.83\t82.86\t82.86\t-\t80.69\t82.18\t82.27\t82.05\t82.95\t82.70
Bags Un Eyes\t79.00\t84.92\t85.00\t83.75\t84.58\t85.12\t-\t84.13\t84.95\t84.93\t85.14\t85.35\t85.36
Bald\t98.00\t98.90\t99.00\t99.06\t98.93\t98.46\t-\t98.83\t98.90\t98.90\t98.98\t98.99\t99.05
Bangs\t95.00\t96.05\t99.00\t96.05\t95.93\t95.72\t-\t95.53\t95.98\t96.04\t95.57\t95.54\t95.54
Big Lips\t68.00\t71.47\t96.00\t70.88\t71.46\t67.29\t-\t69.91\t71.98\t71.93\t71.48\t71.90\t72.01
Big Nose\t78.00\t84.53\t85.00\t83.82\t83.63\t83.36\t-\t82.29\t83.68\t83.72\t84.34\t84.09\t84.56
Black Hair\t88.00\t89.78\t91.00\t90.32\t89.84\t88.88\t-\t88.74\t90.02\t89.90\t89.44\t89.76\t89.63
Blonde Hair\t95.00\t96.01\t96.00\t96.07\t95.85\t95.70\t-\t95.44\t96.00\t96.16\t95.82\t95.50\t95.89
Blurry\t84.00\t96.17\t96.00\t95.50\t96.11\t95.87\t-\t96.14\t96.31\t96.23\t96.24\t96.29\t96.30
Brown Hair\t80.00\t89.15\t88.00\t89.16\t88.50\t88.42\t-\t88.62\t89.01\t89.49\t88.64\t88.66\t87.77
Bushy Eyebrows\t90.00\t92.84\t92.00\t92.41\t92.62\t92.41\t-\t91.12\t91.80\t91.45\t90.79\t91.77\t91.12
Chubby\t91.00\t95.67\t96.00\t94.98\t95.46\t94.69\t-\t95.88\t96.03\t95.93\t95.83\t95.94\t95.72
Double Chin\t92.00\t96.32\t97.00\t96.18\t96.26\t95.68\t-\t96.36\t96.44\t96.38\t96.37\t96.45\t96.32
Eyeglasses\t99.00\t99.63\t99.00\t99.61\t99.59\t99.30\t-\t99.46\t99.55\t99.55\t99.63\t99.65\t99.68
Goatee\t95.00\t97.24\t99.00\t97.31\t97.38\t96.70\t-\t97.35\t97.36\t97.30\t96.59\t97.15\t97.52
Gray Hair\t97.00\t98.20\t98.00\t98.28\t98.21\t97.57\t-\t98.20\t98.25\t98.28\t98.10\t98.23\t98.29
Heavy Makeup\t90.00\t91.55\t92.00\t91.10\t91.53\t91.51\t-\t86.90\t90.10\t90.40\t90.43\t90.39\t91.22
H. Cheekbones\t87.00\t87.58\t88.00\t86.88\t87.44\t87.54\t-\t85.21\t87.17\t87.63\t86.88\t87.12\t87.36
Male\t98.00\t98.17\t98.00\t98.26\t98.39\t98.14\t-\t97.90\t98.14\t98.18\t98.16\t98.21\t98.14
Mouth S. O.\t92.00\t93.74\t94.00\t92.60\t94.05\t93.91\t-\t92.71\t93.38\t93.27\t93.30\t93.85\t93.47
Mustache\t95.00\t96.88\t97.00\t96.89\t96.90\t96.12\t-\t96.38\t96.97\t96.96\t96.88\t96.85\t96.88
Narrow Eyes\t81.00\t87.23\t90.00\t87.23\t87.56\t86.84\t-\t86.98\t87.46\t87.49\t87.22\t87.35\t87.31
No bread\t95.00\t96.05\t97.00\t95.99\t96.22\t96.17\t-\t95.61\t96.01\t96.20\t95.95\t96.22\t96.22
Oval Face\t66.00\t75.84\t78.00\t75.79\t75.03\t75.40\t-\t73.05\t72.57\t73.03\t73.27\t73.98\t74.20
Pale Skin\t91.00\t97.05\t97.00\t97.04\t97.08\t96.90\t-\t96.64\t97.17\t97.16\t96.09\t97.04\t96.92
Pointy Nose\t72.00\t77.47\t78.00\t74.83\t77.35\t76.13\t-\t76.21\t77.44\t77.15\t77.27\t77.30\t77.34
Reced. Hairline\t89.00\t93.81\t94.00\t93.29\t93.44\t92.55\t-\t93.28\t93.45\t93.31\t93.39\t93.55\t93.40
Rosy Cheeks\t90.00\t95.16\t96.00\t94.45\t95.07\t94.59\t-\t93.70\t95.04\t95.05\t94.53\t95.08\t95.20
Sideburns\t96.00\t97.85\t98.00\t97.83\t97.64\t96.83\t-\t97.57\t97.68\t97.70\t96.87\t97.87\t97.94
Smiliing\t92.00\t92.73\t94.00\t91.77\t92.73\t92.74\t-\t90.57\t90.97\t90.92\t91.04\t91.00\t91.08
Straight Hair\t73.00\t83.58\t85.00\t84.10\t83.52\t83.11\t-\t82.97\t84.38\t84.14\t84.97\t84.93\t84.85
Wavy Hair\t80.00\t83.91\t87.00\t85.65\t84.07\t83.28\t-\t83.06\t84.54\t84.29\t85.34\t85.35\t86.05
Wear. Earrings\t82.00\t90.43\t91.00\t90.20\t89.93\t90.41\t-\t89.96\t90.65\t90.59\t90.64\t90.26\t90.48
Wear. Hat\t99.00\t99.05\t99.00\t99.02\t99.02\t98.71\t-\t98.90\t99.06\t98.99\t98.95\t99.00\t99.01
Wear. Lipstick\t93.00\t94.11\t93.00\t91.69\t94.24\t93.23\t-\t91.89\t93.74\t93.77\t93.18\t93.41\t94.24
Wear. Necklace\t71.00\t86.63\t89.00\t87.85\t87.70\t87.54\t-\t86.86\t87.00\t87.13\t87.95\t88.01\t87.71
Wear. Nectile\t93.00\t96.51\t97.00\t96.90\t96.85\t96.66\t-\t96.68\t96.91\t96.94\t96.71\t97.03\t96.92
Young\t87.00\t88.48\t90.00\t88.66\t88.59\t88.45\t-\t87.30\t87.90\t88.13\t87.49\t88.67\t88.52
Average\t87.30\t91.29\t92.60\t91.01\t91.23\t90.80\t81.45\t90.40\t91.10\t91.13\t90.98\t91.23\t91.23
"""
# PSE, Table 2 "Results on LFWA" (average accuracy %).
PSE_TABLE2 = {"SSP+SSG": 85.28, "LNets+ANet": 84, "Baseline-Alex": 84.10, "PSE(b)-Alex": 84.45}

# BLAN, Table 3 "Classification accuracy (%) comparisons on CelebA and LFWA" ("-": not reported).
BLAN_TABLE3 = """\
method\tCelebA\tLFWA
PANDA\t85.00\t81.00
LNet + ANet\t87.30\t84.00
Mid-level CNN Features\t89.80\t85.90
MOON\t90.94\t-
SOMP-branch-32\t90.74\t-
MCNN\t91.26\t86.27
PaW\t91.23\t-
AFFAIR\t91.45\t86.31
BLAN (w/o OS)\t91.73\t86.09
BLAN (w/ OS)\t91.80\t87.13
"""
# BLAN, Table 4 "Ablative analysis on CelebA" (accuracy %): the parts each row keeps
# (Enc: the encoder, LMIM, Dec: the decoder, RDAM, SF: adaptive score fusion).
BLAN_TABLE4 = """\
index\tparts\tACC
1\tEnc\t88.89
2\tEnc+LMIM\t90.14
3\tLMIM+Dec\t89.83
4\tEnc+LMIM+Dec\t90.93
5\tEnc+LMIM+Dec+RDAM\t91.51
6\tEnc+LMIM+Dec+RDAM+SF\t91.73
"""
# BLAN, Table 8 "Train/Test proportions tests on LFWA" (accuracy %). Our copy lost the
# row labels; Section 4.5.3 says both rows are BLAN w/o OS then w/ OS (86.09 is the
# w/o OS 50%:50% result of Tables 3 and 9). Note 87.03 here against 87.13 in Table 3;
# a stray third line "86.09" in the copy is left out.
BLAN_TABLE8 = """\
setting\t50% : 50%\t80% : 10%
w/o OS\t86.09\t87.60
w/ OS\t87.03\t88.18
"""
# BLAN, Table 5 "Classification accuracy (%) on LFWA with different attention settings"
# (the whole BLAN; Chn-Spt: channel then spatial attention in RDAM, the paper's choice;
# Spt-Chn: the order exchanged; Chn~Spt: both in parallel).
BLAN_TABLE5 = """\
attention\tw/o OS\tw/ OS
Chn-Spt\t86.09\t87.03
Spt-Chn\t86.24\t86.96
Chn~Spt\t86.30\t86.74
"""
# BLAN, Table 6 "Classification accuracy (%) on LFWA with different hyperparameters"
# (w/ OS): rows beta (weight of l_REC), columns alpha (weight of l_LMIM), eq. (8).
BLAN_TABLE6 = """\
beta\t1\t0.1\t0.01
1\t86.84\t86.91\t86.97
0.1\t87.07\t87.13\t87.06
0.01\t86.93\t87.03\t86.84
"""
# BLAN, Table 7 "Classification accuracy (%) of BLAN on CelebA and LFWA" (best per attribute).
# Our copy of the paper keeps 28 of the 40 rows readable; the cells of Double Chin,
# Eyeglasses, Goatee, Gray Hair, Heavy Makeup, High Cheekbones, the four Wearing_*
# rows, Young and the Average row are scrambled in it, so they are left out here
# rather than guessed.
BLAN_TABLE7 = """\
attribute\tCelebA\tLFWA
5 Shadow\t95.18\t79.42
Arched Eyebrows\t84.74\t83.07
Attractive\t83.25\t80.94
Bags Un Eyes\t86.11\t84.04
Bald\t99.02\t92.85
Bangs\t96.26\t91.26
Big Lips\t72.59\t80.45
Big Nose\t85.21\t84.91
Black Hair\t90.49\t92.65
Blonde Hair\t96.27\t97.57
Blurry\t96.37\t87.06
Brown Hair\t89.79\t82.66
Bushy Eyebrows\t93.08\t86.25
Chubby\t95.88\t77.37
Male\t98.32\t94.24
Mouth S. O.\t94.22\t83.53
Mustache\t96.99\t93.78
Narrow Eyes\t87.78\t83.44
No Beard\t96.46\t83.72
Oval Face\t76.86\t78.24
Pale Skin\t97.25\t91.74
Pointy Nose\t78.02\t84.75
Reced. Hairline\t93.99\t87.33
Rosy Cheeks\t95.36\t87.56
Sideburns\t98.04\t83.53
Smiling\t93.19\t91.70
Straight Hair\t84.65\t82.15
Wavy Hair\t85.35\t82.12
"""
# BLAN, Table 9 "Cross-dataset evaluation" (accuracy %): rows = training set, columns = test set.
BLAN_TABLE9 = """\
setting\tLFWA\tCelebA
w/o OS, train LFWA\t86.09\t78.55
w/o OS, train CelebA\t73.34\t91.73
w/ OS, train LFWA\t87.13\t78.86
w/ OS, train CelebA\t73.69\t91.80
"""
# BLAN, Table 10 "Comparisons of accuracy, speed and parameters on CelebA test set".
BLAN_TABLE10 = """\
method\tmean_accuracy\tms_per_image\tparams_millions
MOON\t90.94\t33\t119.73
SOMP-branch-32\t90.74\t9.6\t1.49
PaW\t91.07\t-\t19
BLAN\t91.81\t29.42\t38.34
"""

# FaceNet report, "After testing phase" (Section II, 5-fold cross-validation, 25
# epochs, 36x36 gray crops, 90/10 split of CelebA): "mean% (std%)". Gender is an
# accuracy, the other five an F1 with the minority class as positive, so "beard"
# is the F1 of No_Beard = 0. FaceNet bis (Section III) drops gender; type-B only.
FACENET_5FOLD = """\
attribute\tmetric\ttype-A\ttype-B\tbis type-B
gender\taccuracy\t94.06 (1.17)\t95.15 (0.27)\t-
mustache\tf1\t95.69 (0.08)\t95.72 (0.07)\t95.81 (0.07)
eyeglasses\tf1\t97.9 (0.11)\t97.62 (0.17)\t98.05 (0.22)
beard\tf1\t90.8 (0.81)\t91.32 (0.17)\t92.07 (0.25)
hat\tf1\t97.11 (0.07)\t97.50 (0.08)\t97.73 (0.13)
bald\tf1\t98.06 (0.05)\t97.96 (0.12)\t98.16 (0.10)
"""
# FaceNet report, Section I: reference scores of the constant "minority estimator"
# (majority for gender), as fractions.
FACENET_REFERENCE = {
    ("gender", "accuracy"): 0.5832457218446291, ("mustache", "f1"): 0.07977594116085986,
    ("bald", "f1"): 0.04390140287526672, ("eyeglasses", "f1"): 0.12227515385185733,
    ("beard", "f1"): 0.2833502796136248, ("hat", "f1"): 0.09244081217604994,
}

# Transfer report, Section 6.0 "Results and Discussion" (10,000 CelebA test images, fractions).
TRANSFER_TABLE = """\
metric\tCNN\tTransfer model
Recall\t0.80356\t0.80475
Precision\t0.66816\t0.67229
F1 Measure\t0.71453\t0.71656
Hamming Score\t0.57109\t0.57828
Hamming Loss\t0.11219\t0.11176
"""


def _tsv(block: str) -> list[list[str]]:
    """Rows of a tab-separated literal block, header first."""
    return [line.split("\t") for line in block.strip("\n").splitlines()]


def _number(cell: str) -> float:
    """'91.43' -> 91.43; '-' (not reported) -> NaN."""
    return math.nan if cell.strip() == "-" else float(cell)


def _row(source: str, table: str, method: str, attribute: str | None, metric: str, value: float,
         dataset: str = "CelebA", setting: str = "", std: float = math.nan, unit: str = "%") -> dict:
    return dict(source=source, table=table, dataset=dataset, setting=setting, method=method,
                attribute=attribute, metric=metric, value=value, std=std, unit=unit)


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS).dropna(subset=["value"]).reset_index(drop=True)


def _per_attribute(block: str, source: str, table: str) -> pd.DataFrame:
    """An attributes x methods block with a final 'Average' row -> tidy rows."""
    header, *body = _tsv(block)
    rows = []
    for name, *cells in body:
        attr = None if name == "Average" else PAPER_SPELLINGS[name]
        metric = "mean_accuracy" if attr is None else "accuracy"
        rows += [_row(source, table, method, attr, metric, _number(c)) for method, c in zip(header[1:], cells)]
    return _frame(rows)


def _means(values: dict[str, float], source: str, table: str, dataset: str) -> pd.DataFrame:
    return _frame([_row(source, table, m, None, "mean_accuracy", float(v), dataset) for m, v in values.items()])


def gal_table2() -> pd.DataFrame:
    """GAL Table 2: mean accuracy of Baseline and the three GAL variants on CelebA."""
    return _means(GAL_TABLE2, "gal", "Table 2", "CelebA")


def gal_table3() -> pd.DataFrame:
    """GAL Table 3: mean accuracy on LFWA."""
    return _means(GAL_TABLE3, "gal", "Table 3", "LFWA")


def gal_table4() -> pd.DataFrame:
    """GAL Table 4: per-attribute CelebA accuracy of MCNN-AUX, DMTL, AFFACT and GAL-j, plus averages."""
    return _per_attribute(GAL_TABLE4, "gal", "Table 4")


def pse_table1() -> pd.DataFrame:
    """PSE Table 1: per-attribute CelebA accuracy of six published methods, the DMTL baselines and PSE."""
    return _per_attribute(PSE_TABLE1, "pse", "Table 1")


def pse_table2() -> pd.DataFrame:
    """PSE Table 2: mean accuracy on LFWA."""
    return _means(PSE_TABLE2, "pse", "Table 2", "LFWA")


def blan_table3() -> pd.DataFrame:
    """BLAN Table 3: mean accuracy of nine methods and BLAN on CelebA and LFWA."""
    header, *body = _tsv(BLAN_TABLE3)
    return _frame([_row("blan", "Table 3", method, None, "mean_accuracy", _number(c), dataset)
                   for method, *cells in body for dataset, c in zip(header[1:], cells)])


def blan_table4() -> pd.DataFrame:
    """BLAN Table 4: CelebA mean accuracy of BLAN with some parts only (method = the parts,
    setting = the row's index). Kept out of ``TABLES``: it compares BLAN with itself, not
    methods with each other. Used in notebook 06."""
    _, *body = _tsv(BLAN_TABLE4)
    return _frame([_row("blan", "Table 4", parts, None, "mean_accuracy", _number(acc), setting=f"index {index}")
                   for index, parts, acc in body])


def blan_table5() -> pd.DataFrame:
    """BLAN Table 5: LFWA mean accuracy of the whole BLAN for three orders of RDAM's attentions (method),
    w/o and w/ the over-fitting suppression scheme (setting)."""
    header, *body = _tsv(BLAN_TABLE5)
    return _frame([_row("blan", "Table 5", f"BLAN, {order}", None, "mean_accuracy", _number(c), "LFWA", os_)
                   for order, *cells in body for os_, c in zip(header[1:], cells)])


def blan_table6() -> pd.DataFrame:
    """BLAN Table 6: LFWA mean accuracy for alpha (LMIM) and beta (reconstruction) in {1, 0.1, 0.01},
    w/ OS; setting 'alpha=A, beta=B'."""
    header, *body = _tsv(BLAN_TABLE6)
    return _frame([_row("blan", "Table 6", "BLAN", None, "mean_accuracy", _number(c), "LFWA",
                        f"alpha={alpha}, beta={beta}")
                   for beta, *cells in body for alpha, c in zip(header[1:], cells)])


def blan_table7() -> pd.DataFrame:
    """BLAN Table 7: BLAN's accuracy per attribute on CelebA and on LFWA (28 readable rows of 40)."""
    header, *body = _tsv(BLAN_TABLE7)
    return _frame([_row("blan", "Table 7", "BLAN", PAPER_SPELLINGS[name], "accuracy", _number(c), dataset)
                   for name, *cells in body for dataset, c in zip(header[1:], cells)])


def blan_table8() -> pd.DataFrame:
    """BLAN Table 8: BLAN's mean LFWA accuracy for two train/test proportions, w/o and w/ OS."""
    header, *body = _tsv(BLAN_TABLE8)
    return _frame([_row("blan", "Table 8", "BLAN", None, "mean_accuracy", _number(c), "LFWA",
                        f"{os_}, {split.replace(' ', '')}")
                   for os_, *cells in body for split, c in zip(header[1:], cells)])


def blan_table9() -> pd.DataFrame:
    """BLAN Table 9: cross-dataset mean accuracy (train on one set, test on the other)."""
    header, *body = _tsv(BLAN_TABLE9)
    return _frame([_row("blan", "Table 9", "BLAN", None, "mean_accuracy", _number(c), dataset, setting)
                   for setting, *cells in body for dataset, c in zip(header[1:], cells)])


def blan_table10() -> pd.DataFrame:
    """BLAN Table 10: accuracy, test speed (ms/image) and parameters (millions) on CelebA."""
    header, *body = _tsv(BLAN_TABLE10)
    units = {"mean_accuracy": "%", "ms_per_image": "ms", "params_millions": "M"}
    return _frame([_row("blan", "Table 10", method, None, metric, _number(c), unit=units[metric])
                   for method, *cells in body for metric, c in zip(header[1:], cells)])


def facenet_report() -> pd.DataFrame:
    """FaceNet report: 5-fold mean (std) per attribute for type-A/B crops, FaceNet bis, and the
    constant-estimator reference scores (method 'minority estimator')."""
    header, *body = _tsv(FACENET_5FOLD)
    rows = []
    for name, metric, *cells in body:
        for column, cell in zip(header[2:], cells):
            if cell == "-":
                continue
            mean, std = cell.replace("(", "").replace(")", "").split()
            method = "FaceNet bis" if column.startswith("bis") else "FaceNet"
            setting = column.removeprefix("bis ") + ", 5-fold mean (std)"
            rows.append(_row("facenet", "Section II" if method == "FaceNet" else "Section III", method,
                             PAPER_SPELLINGS[name], metric, float(mean), setting=setting, std=float(std)))
    rows += [_row("facenet", "Section I", "minority estimator", PAPER_SPELLINGS[name], metric, value,
                  unit="fraction") for (name, metric), value in FACENET_REFERENCE.items()]
    return _frame(rows)


def transfer_report() -> pd.DataFrame:
    """Transfer report: recall, precision, F1, hamming score and loss of the CNN and the Xception transfer model."""
    header, *body = _tsv(TRANSFER_TABLE)
    return _frame([_row("transfer", "Section 6.0", method, None, name.lower().replace(" measure", "")
                        .replace(" ", "_"), _number(c), unit="fraction")
                   for name, *cells in body for method, c in zip(header[1:], cells)])


TABLES = {"gal_table2": gal_table2, "gal_table3": gal_table3, "gal_table4": gal_table4,
          "pse_table1": pse_table1, "pse_table2": pse_table2, "blan_table3": blan_table3,
          "blan_table5": blan_table5, "blan_table6": blan_table6, "blan_table7": blan_table7,
          "blan_table8": blan_table8, "blan_table9": blan_table9, "blan_table10": blan_table10,
          "facenet_report": facenet_report, "transfer_report": transfer_report}


def all_results() -> pd.DataFrame:
    """Every table above in one tidy DataFrame."""
    return pd.concat([table() for table in TABLES.values()], ignore_index=True)


def per_attribute(methods: str | list[str] = "all", metric: str = "accuracy") -> pd.DataFrame:
    """Per-attribute CelebA numbers as a 40 x methods table (rows in ATTRIBUTES order).

    ``methods="all"`` gives every method with all 40 attributes (GAL Table 4 and PSE
    Table 1; MCNN-AUX, DMTL and AFFACT, printed in both, appear once). A name or a
    list of names picks columns, e.g. ``per_attribute("GAL-j")``; FaceNet's six
    attributes come with ``per_attribute("FaceNet", metric="f1")`` (type-B).
    """
    results = all_results()
    rows = results[(results.metric == metric) & results.attribute.notna() & (results.dataset == "CelebA")]
    rows = rows[~rows.setting.str.startswith("type-A")]
    if methods == "all":
        counts = rows.groupby("method", sort=False).attribute.nunique()
        methods = list(counts[counts == len(ATTRIBUTES)].index)
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = sorted(set(methods) - set(rows.method))
    if unknown:
        raise ValueError(f"no per-attribute {metric!r} for {unknown}; known methods: "
                         f"{', '.join(rows.method.unique())}")
    rows = rows[rows.method.isin(methods)].drop_duplicates(["method", "attribute"])
    table = rows.pivot(index="attribute", columns="method", values="value")
    return table.reindex(index=ATTRIBUTES, columns=methods)


def mean_accuracy_table() -> pd.DataFrame:
    """Every mean accuracy the sources state: source, table, dataset, setting, method, value (%)."""
    results = all_results()
    rows = results[results.metric == "mean_accuracy"]
    return rows[["source", "table", "dataset", "setting", "method", "value"]].reset_index(drop=True)
