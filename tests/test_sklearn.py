"""NNScratchClassifier: scikit-learn's conformance suite, MLPClassifier-style behaviour, and real MNIST."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nnscratch import DeepNeuralNetwork  # noqa: E402
from nnscratch.errors import DataError  # noqa: E402
from nnscratch.sklearn import NNScratchClassifier  # noqa: E402


def small(**kwargs) -> NNScratchClassifier:
    """A fast instance for tests: one hidden layer of 16 units, Adam at 0.01, at most 50 epochs."""
    params = {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "max_iter": 50, "random_state": 0}
    return NNScratchClassifier(**{**params, **kwargs})


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=240, centers=3, cluster_std=1.0, random_state=3)
    return StandardScaler().fit_transform(X), y


# ---------------------------------------------------------------------------- conformance suite


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """The suite's matrices are tiny: OpenBLAS threads only contend on a shared 2-core machine (the
    default 128-64 estimator's 200 epochs took 4 s of CPU per fit with 2 threads, 0.13 s with 1)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([NNScratchClassifier(), small()])
def test_sklearn_conformance(estimator, check):
    """The whole suite, on the default estimator (as ``check_estimator(NNScratchClassifier())``) too."""
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_computes_in_the_float_type_of_the_training_data(blobs):
    """scikit-learn's convention (MLPClassifier's): float32 data -> float32 network, float64 -> float64,
    so float64 predictions are the same on a batch and on its subsets (check_methods_subset_invariance)."""
    X, y = blobs
    X = np.tile(X, (1, 40))  # 80 features: enough for float32 rounding to show in 128-64 layers
    for data, expected in ((X, np.float64), (X.astype(np.float32), np.float32), (X.astype(int), np.float64)):
        clf = NNScratchClassifier(max_iter=3, random_state=0).fit(data, y)
        assert clf.network_.dtype == expected and clf.coefs_[0].dtype == expected
    first = NNScratchClassifier(random_state=0).partial_fit(X.astype(np.float32), y, classes=[0, 1, 2])
    assert first.network_.dtype == np.float32
    assert small(dtype="float64").fit(X.astype(np.float32), y).network_.dtype == np.float64  # explicit wins
    clf = NNScratchClassifier(max_iter=3, random_state=0).fit(X, y)
    full = clf.predict_proba(X)
    by_batch = np.concatenate([clf.predict_proba(X[i : i + 7]) for i in range(0, len(X), 7)])
    np.testing.assert_allclose(full, by_batch, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------- behaviour


def test_fitted_attributes_follow_mlpclassifier(blobs):
    X, y = blobs
    clf = small(hidden_layer_sizes=(8, 4), max_iter=5, tol=0.0)
    assert not hasattr(clf, "coefs_")
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        clf.fit(X, y)
    assert clf.n_features_in_ == 2 and clf.n_layers_ == 4 and clf.n_outputs_ == 3
    assert clf.out_activation_ == "softmax"
    assert [c.shape for c in clf.coefs_] == [(2, 8), (8, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (4,), (3,)]
    np.testing.assert_array_equal(clf.coefs_[0], clf.network_.params["W1"].T)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5 and clf.t_ == 5 * len(y)
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_string_labels_binary_and_single_class(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    clf = small().fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    assert clf.score(X, names) > 0.9 and set(clf.predict(X)) <= set(clf.classes_)
    binary = small().fit(X[y < 2], names[y < 2])
    assert binary.predict_proba(X).shape == (len(X), 2) and binary.coefs_[-1].shape == (16, 2)
    assert binary.score(X[y < 2], names[y < 2]) > 0.95
    with pytest.raises(DataError, match="only one class"):
        small().fit(X, np.full(len(X), "cat"))
    with pytest.raises(ValueError, match="Unknown label type"):
        small().fit(X, X[:, 0])


def test_convergence_stops_before_max_iter_without_warning(blobs, recwarn):
    X, y = blobs
    clf = small(tol=100.0, n_iter_no_change=2, max_iter=100).fit(X, y)
    # as in MLPClassifier: the first epoch sets best_loss_; no later one can improve by tol, and the
    # run stops once the count of such epochs exceeds n_iter_no_change
    assert clf.n_iter_ == 4
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def test_partial_fit_is_one_uninterrupted_training_run(blobs):
    """Two partial_fit calls with Adam are exactly two epochs of one DeepNeuralNetwork run: same
    weights, same Adam step count and moments (the optimizer state is kept, not reset)."""
    X, y = blobs
    clf = NNScratchClassifier(
        (8,),
        "tanh",
        solver="adam",
        alpha=0.0,
        batch_size=32,
        init="xavier",
        learning_rate_init=0.01,
        random_state=7,
    )
    clf.partial_fit(X, y, classes=[0, 1, 2])
    t_first = clf.network_.optimizer.t
    clf.partial_fit(X, y)
    net = DeepNeuralNetwork(
        [2, 8, 3],
        epochs=2,
        l_rate=0.01,
        activation="tanh",
        init="xavier",
        batch_size=32,
        optimizer="adam",
        schedule="constant",
        seed=7,
        verbose=False,
        dtype=np.float64,
    )  # float64 X: the classifier computes in float64
    net.train(X, y)
    steps = int(np.ceil(len(y) / 32))
    assert (t_first, clf.network_.optimizer.t, net.optimizer.t) == (steps, 2 * steps, 2 * steps)
    for key, value in net.params.items():
        np.testing.assert_array_equal(clf.network_.params[key], value)
    for key, value in net.optimizer.state.items():
        np.testing.assert_array_equal(clf.network_.optimizer.state[key], value)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2


def test_partial_fit_with_unsorted_string_classes(blobs):
    """classes given in any order (strings here) are sorted into classes_, and each label keeps its own
    output unit: the run is the same as with the classes given sorted, and it learns the labels."""
    X, y = blobs
    labels = np.array(["zebra", "ant", "moose"])[y]  # blob 0 is "zebra", 1 "ant", 2 "moose"
    fast = {"batch_size": 32, "learning_rate_init": 0.05}  # 100 % of the training blobs after 3 epochs
    unsorted = small(**fast).partial_fit(X, labels, classes=["zebra", "moose", "ant"])
    ordered = small(**fast).partial_fit(X, labels, classes=["ant", "moose", "zebra"])
    assert unsorted.classes_.tolist() == ["ant", "moose", "zebra"]
    for key, value in ordered.network_.params.items():
        np.testing.assert_array_equal(unsorted.network_.params[key], value)
    for _ in range(4):
        unsorted.partial_fit(X, labels)
    predicted = unsorted.predict(X)
    assert predicted.dtype == labels.dtype and np.mean(predicted == labels) > 0.98
    proba = unsorted.predict_proba(X)
    np.testing.assert_array_equal(unsorted.classes_[proba.argmax(axis=1)], predicted)
    # column k of predict_proba is classes_[k]: "ant" (blob 1) gets column 0
    assert proba[y == 1, 0].mean() > 0.8 and proba[y == 0, 2].mean() > 0.8


def test_warm_start_continues_optimizer_state(blobs):
    X, y = blobs
    once = small(solver="nesterov", tol=0.0, max_iter=6, learning_rate_init=0.05)
    twice = small(solver="nesterov", tol=0.0, max_iter=3, learning_rate_init=0.05, warm_start=True)
    with pytest.warns(ConvergenceWarning):
        once.fit(X, y)
        twice.fit(X, y)
        twice.fit(X, y)
    np.testing.assert_array_equal(once.network_.params["W1"], twice.network_.params["W1"])
    assert once.loss_curve_ == twice.loss_curve_ and twice.n_iter_ == 6
    with pytest.raises(ValueError, match="same classes"):
        twice.fit(X[y < 2], y[y < 2])


def test_early_stopping_switched_between_warm_fits_is_honoured(blobs):
    """set_params(early_stopping=...) between two warm-started fits: the second fit stops on what the
    user now asked for (validation scores, or the training loss), instead of failing on the first's state."""
    X, y = blobs
    clf = small(max_iter=3, tol=0.0, warm_start=True)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.validation_scores_ is None and clf.best_loss_ is not None
    clf.set_params(early_stopping=True, validation_fraction=0.2)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert len(clf.validation_scores_) == 3 and clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None and clf.n_iter_ == 6
    clf.set_params(early_stopping=False)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.validation_scores_ is None and clf.best_loss_ == min(clf.loss_curve_[6:])


def test_partial_fit_argument_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="classes must be passed"):
        small().partial_fit(X, y)
    clf = small().partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # class 2 can come later
    clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :1], y)


def test_early_stopping_keeps_the_best_validation_weights(blobs):
    X, y = blobs
    clf = small(
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=3,
        tol=1e-3,
        max_iter=200,
        learning_rate_init=0.05,
    ).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    _, x_val, _, y_val = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    assert clf.score(x_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_adaptive_learning_rate_divides_by_five(blobs):
    X, y = blobs
    clf = small(
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=1,
        max_iter=5,
        learning_rate_init=0.1,
    )
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    # epoch 1 sets best_loss_; no later epoch improves by 10, so the count exceeds 1 at epochs 3 and 5
    assert clf.network_.l_rate == pytest.approx(0.1 / 5) and clf._base_lr == pytest.approx(0.1 / 25)


def test_pickle_round_trip_continues_bit_for_bit(blobs):
    X, y = blobs
    a = small(solver="adam", max_iter=3, tol=0.0, dropout=0.1)
    with pytest.warns(ConvergenceWarning):
        a.fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    a.partial_fit(X, y)
    b.partial_fit(X, y)  # same optimizer moments, random generator and dropout masks after the trip
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert b.coefs_[0].base is not None  # coefs_ are still live views of the network's weights


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_options_map_onto_the_network(blobs, capsys):
    X, y = blobs
    clf = small(
        activation="logistic",
        solver="adamw",
        alpha=0.02,
        batch_size=20,
        dtype="float64",
        loss="squared_error",
        learning_rate="cosine",
        verbose=True,
        max_iter=2,
        tol=0.0,
    )
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    net = clf.network_
    assert net.activation.name == "sigmoid" and net.loss.name == "sum_of_squares"
    assert net.init == "xavier" and net.dtype == np.float64 and net.batch_size == 20
    assert net.l2 == pytest.approx(0.02 / 20) and net.optimizer.name == "adamw"
    assert clf._schedule.config()["name"] == "cosine" and clf._schedule.total == 2
    assert net.l_rate == pytest.approx(0.01 * 0.5)  # the cosine's value at the start of epoch 2 of 2
    assert "Iteration 2, loss = " in capsys.readouterr().out
    assert small(activation="relu").fit(X, y).network_.init == "he"


@pytest.mark.parametrize(
    "params, match",
    [
        ({"activation": "identity"}, "activation"),
        ({"solver": "lbfgs"}, "solver"),
        ({"learning_rate": "invscaling"}, "learning_rate"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_iter": 0}, "max_iter"),
        ({"dropout": 1.0}, "dropout"),
        ({"early_stopping": True, "validation_fraction": 1.5}, "validation_fraction"),
    ],
)
def test_invalid_parameters_are_named(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        small(**params).fit(*blobs)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unfitted_and_feature_names(blobs):
    X, y = blobs
    with pytest.raises(NotFittedError):
        small().predict(X)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["width", "height"])
    clf = small().fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["width", "height"])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


# ---------------------------------------------------------------------------- real MNIST


@pytest.fixture(scope="module")
def mnist_subset(mnist_path):
    from nnscratch.sweep.runner import load_arrays

    (x_train, y_train, x_test, y_test), _ = load_arrays("mnist", mnist_path, 3000, 1000)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32)  # noqa: E731 - raw 0..255 pixels
    return flat(x_train), y_train, flat(x_test), y_test


def test_grid_search_pipeline_on_mnist(mnist_subset):
    x_train, y_train, x_test, y_test = mnist_subset
    clf = small(hidden_layer_sizes=(64,), max_iter=15, learning_rate_init=1e-3)
    pipe = make_pipeline(StandardScaler(), clf)
    grid = {"nnscratchclassifier__alpha": [1e-4, 1.0], "nnscratchclassifier__batch_size": [32, 100]}
    with pytest.warns(ConvergenceWarning):
        search = GridSearchCV(pipe, grid, cv=2).fit(x_train, y_train)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.all(scores > 0.85), scores
    assert search.score(x_test, y_test) > 0.85
    assert search.best_estimator_[-1].n_features_in_ == 784


def test_cross_val_score_on_mnist(mnist_subset):
    x_train, y_train, _, _ = mnist_subset
    clf = make_pipeline(StandardScaler(), small(hidden_layer_sizes=(32,), max_iter=10, batch_size=50))
    with pytest.warns(ConvergenceWarning):
        scores = cross_val_score(clf, x_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85, scores
