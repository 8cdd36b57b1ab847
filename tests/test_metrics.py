"""Metrics on cases small enough to work out by hand (every expected number below is derived in the
comments, not computed with the functions under test)."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch.evaluation.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    format_confusion_matrix,
    precision_recall_f1,
)

# Four samples, three classes:  true 0 0 1 2,  predicted 0 1 1 0.
Y_TRUE = np.array([0, 0, 1, 2])
Y_PRED = np.array([0, 1, 1, 0])
# Row = true class, column = predicted class:
#   true 0: predicted 0 once, 1 once      -> [1, 1, 0]
#   true 1: predicted 1 once              -> [0, 1, 0]
#   true 2: predicted 0 once              -> [1, 0, 0]
CM = [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_confusion_matrix_rows_are_true_classes_columns_predictions():
    cm = confusion_matrix(Y_TRUE, Y_PRED, n_classes=3)
    assert cm.tolist() == CM  # not its transpose: [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
    assert confusion_matrix(Y_TRUE, Y_PRED).shape == (10, 10)  # MNIST's 10 classes by default
    assert confusion_matrix([], [], n_classes=2).tolist() == [[0, 0], [0, 0]]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1], [0], "shape"),
        ([0, 3], [0, 1], "y_true holds labels outside 0..2"),
        ([0, 1], [-1, 1], "y_pred holds labels outside 0..2"),
    ],
)
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(y_true, y_pred, n_classes=3)


def test_precision_recall_f1_by_hand():
    precision, recall, f1 = precision_recall_f1(np.array(CM))
    # precision = diagonal / column sums (predicted 0: 2 times, 1: 2 times, 2: never -> 0 by convention)
    np.testing.assert_allclose(precision, [1 / 2, 1 / 2, 0.0])
    # recall = diagonal / row sums (true 0: 2 samples, 1: 1, 2: 1)
    np.testing.assert_allclose(recall, [1 / 2, 1 / 1, 0 / 1])
    # F1 = 2PR / (P + R): class 0: 0.5; class 1: 2·0.5·1/1.5 = 2/3; class 2: 0 (P + R = 0)
    np.testing.assert_allclose(f1, [0.5, 2 / 3, 0.0])


def test_accuracy_by_hand_and_errors():
    assert accuracy(Y_TRUE, Y_PRED) == 0.5  # positions 0 and 2 agree
    assert accuracy([1, 2, 3, 4], [1, 2, 3, 0]) == 0.75  # (not the symmetric 0.5 of the case above)
    with pytest.raises(ValueError, match="shape"):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


# Two classes, five bins of width 0.2: (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1].
PROBA = np.array([[0.9, 0.1], [0.7, 0.3], [0.35, 0.65], [0.45, 0.55]])
Y_CAL = np.array([0, 1, 1, 0])
# confidence .9 (right), .7 (wrong), .65 (right), .55 (wrong)
#   bin (.8, 1]: 1 sample,  confidence .9,              accuracy 1    gap .1
#   bin (.6, .8]: 2 samples, confidence (.7 + .65)/2 = .675, accuracy 1/2  gap .175
#   bin (.4, .6]: 1 sample,  confidence .55,             accuracy 0    gap .55
# ECE = Σ count·gap / n = (1·.1 + 2·.175 + 1·.55) / 4 = 1.0 / 4 = 0.25
# (an unweighted mean over the three bins would give (.1 + .175 + .55) / 3 = 0.275)


def test_expected_calibration_error_by_hand():
    ece, conf, acc, counts = expected_calibration_error(PROBA, Y_CAL, n_bins=5)
    assert ece == pytest.approx(0.25, abs=1e-12)
    assert counts.tolist() == [0, 0, 1, 2, 1]
    np.testing.assert_allclose(conf[2:], [0.55, 0.675, 0.9])
    np.testing.assert_allclose(acc[2:], [0.0, 0.5, 1.0])
    assert np.isnan(conf[:2]).all() and np.isnan(acc[:2]).all()  # empty bins


def test_expected_calibration_error_edges():
    # a confidence of exactly 1 goes in the last bin, exactly .5 in the bin (.4, .6] (bins are (lo, hi])
    proba = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    ece, _, acc, counts = expected_calibration_error(proba, np.array([0, 0, 1]), n_bins=5)
    assert counts.tolist() == [0, 0, 2, 0, 1]
    assert acc[2] == 0.5 and acc[4] == 1.0  # argmax of a tie is class 0
    assert ece == 0.0  # both bins perfectly calibrated
    # a perfectly confident, always right model and an always wrong one
    sure = np.eye(3)[[0, 1, 2]]
    assert expected_calibration_error(sure, np.array([0, 1, 2]))[0] == 0.0
    assert expected_calibration_error(sure, np.array([1, 2, 0]))[0] == 1.0
    # the default is 15 bins
    assert len(expected_calibration_error(sure, np.array([0, 1, 2]))[3]) == 15


def test_classification_report_and_text_matrix_by_hand():
    report = classification_report(Y_TRUE, Y_PRED, n_classes=3).splitlines()
    assert report[0].split() == ["class", "precision", "recall", "f1", "support"]
    assert report[1].split() == ["0", "0.5000", "0.5000", "0.5000", "2"]
    assert report[2].split() == ["1", "0.5000", "1.0000", "0.6667", "1"]
    assert report[3].split() == ["2", "0.0000", "0.0000", "0.0000", "1"]
    assert report[4] == "accuracy: 0.5000 on 4 samples"
    text = format_confusion_matrix(np.array(CM)).splitlines()
    assert text[0].split() == ["true\\pred", "0", "1", "2"]
    assert [line.split() for line in text[1:]] == [
        ["0", "1", "1", "0"],
        ["1", "0", "1", "0"],
        ["2", "1", "0", "0"],
    ]
    assert len({len(line) for line in text}) == 1  # aligned columns
    wide = format_confusion_matrix(np.array([[123456, 0], [0, 1]])).splitlines()
    assert wide[1].split() == ["0", "123456", "0"] and len(wide[0]) == len(wide[1])


def test_expected_calibration_error_of_one_sample_and_of_one_hot_style_input():
    # one sample, confidence 0.8, wrong: one bin with a gap of 0.8, divided by n = 1
    ece, _, _, counts = expected_calibration_error(np.array([[0.8, 0.2]]), np.array([1]), n_bins=10)
    assert ece == pytest.approx(0.8) and counts.sum() == 1 and counts[7] == 1
    # confidences 0.7999999 (just below an edge) and 0.7000001 (just above one) are both in (0.7, 0.8]
    assert expected_calibration_error(np.array([[0.2000001, 0.7999999]]), np.array([1]), 10)[3][7] == 1
    assert expected_calibration_error(np.array([[0.7000001, 0.2999999]]), np.array([0]), 10)[3][7] == 1


def test_precision_recall_f1_with_an_absent_class_and_single_predictions():
    # true 0: predicted 0 twice and 2 once; true 1: predicted 1 once; class 2 never occurs
    cm = np.array([[2, 0, 1], [0, 1, 0], [0, 0, 0]])
    precision, recall, f1 = precision_recall_f1(cm)
    np.testing.assert_array_equal(precision, [1.0, 1.0, 0.0])  # columns: 2 of 2, 1 of 1, 0 of 1
    np.testing.assert_array_equal(recall, [2 / 3, 1.0, 0.0])  # rows: 2 of 3, 1 of 1, none (0, not NaN)
    np.testing.assert_allclose(f1, [0.8, 1.0, 0.0])  # 2·1·(2/3)/(5/3) = 0.8; class 2: 0 (P + R = 0)


def test_reports_check_labels_and_count_one_sample():
    with pytest.raises(ValueError, match="labels outside 0..2"):
        classification_report([0, 5], [0, 1], n_classes=3)
    assert classification_report([1], [1], n_classes=2).splitlines()[-1] == "accuracy: 1.0000 on 1 samples"
    assert len(classification_report([1], [1]).splitlines()) == 12  # 10 classes by default
    text = format_confusion_matrix(np.array([[1, 0], [2, 3]])).splitlines()
    assert text == ["true\\pred    0    1", "        0    1    0", "        1    2    3"]  # width 5
    wide = format_confusion_matrix(np.array([[1234567, 0], [0, 1]])).splitlines()
    assert wide[1] == "        0" + "1234567".rjust(8) + "0".rjust(8)  # one space more than the widest


def test_expected_calibration_error_first_bin_and_no_warnings():
    import warnings

    # three classes, confidence 0.4 (right): with 2 bins it is in the first, (0, 0.5]
    proba = np.array([[0.4, 0.3, 0.3], [0.1, 0.1, 0.8]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # empty bins give NaN quietly, without a RuntimeWarning
        ece, conf, acc, counts = expected_calibration_error(proba, np.array([0, 2]), n_bins=4)
    assert counts.tolist() == [0, 1, 0, 1] and np.isnan(conf[0]) and np.isnan(acc[2])
    assert ece == pytest.approx((0.6 + 0.2) / 2)  # gaps |1 - 0.4| and |1 - 0.8|
    assert expected_calibration_error(proba, np.array([0, 2]), n_bins=2)[3].tolist() == [1, 1]
