"""A scikit-learn classifier backed by the nnscratch network (needs ``pip install 'nnscratch[sklearn]'``).

    from nnscratch.sklearn import NNScratchClassifier
    clf = make_pipeline(StandardScaler(), NNScratchClassifier(hidden_layer_sizes=(128, 64)))
    clf.fit(X_train, y_train).score(X_test, y_test)

The parameters follow :class:`sklearn.neural_network.MLPClassifier` and map onto
:class:`nnscratch.DeepNeuralNetwork` (``sizes = [n_features, *hidden_layer_sizes, n_classes]``, softmax
output, one unit per class, also for binary problems). Unlike scikit-learn's MLP, ``warm_start`` and
``partial_fit`` keep the optimizer's state (momentum buffers, Adam moments and step count): two
``partial_fit`` calls are exactly two epochs of one uninterrupted training run. One iteration is one
epoch. Inputs are used as given (as in scikit-learn): scale them first (``StandardScaler``, or /255).
As in ``MLPClassifier``, the network computes in the float type of the training data (``dtype="auto"``):
float32 ``X`` trains a float32 network (fast), anything else float64.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping

import numpy as np

from nnscratch._optional import require
from nnscratch.errors import DataError
from nnscratch.losses import softmax
from nnscratch.training.optimizers import Schedule, get_optimizer, get_schedule
from nnscratch.training.trainer import DeepNeuralNetwork

require("sklearn.utils.validation", "sklearn", "nnscratch.sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

ACTIVATIONS = {
    "logistic": "sigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
}
SOLVERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
LEARNING_RATES = ("constant", "adaptive", "step", "exponential", "cosine")
LOSSES = {"log_loss": "cross_entropy", "squared_error": "sum_of_squares"}
INITS = ("auto", "tutorial", "xavier", "he")
DTYPES = ("auto", "float32", "float64")


class NNScratchClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained by nnscratch, with ``MLPClassifier``'s interface.

    Parameters
    ----------
    hidden_layer_sizes : widths of the hidden layers (an int for one layer).
    activation : ``relu``, ``logistic`` (= ``sigmoid``), ``tanh`` or ``leaky_relu``.
    solver : ``adam``, ``adamw``, ``sgd`` (plain SGD, no momentum), ``momentum`` or ``nesterov``.
    alpha : L2 penalty, MLPClassifier's convention: ``alpha/2·ΣW²`` is added to the summed loss of a
        batch (nnscratch ``l2 = alpha / batch_size`` on the mean loss). Biases are not penalised.
    batch_size : samples per gradient step; ``auto`` = ``min(200, n_samples)``; 1 is the tutorial's SGD.
    learning_rate : schedule, evaluated at the start of each epoch (epochs counted from the start of
        each :meth:`fit` call, or over all :meth:`partial_fit` calls): ``constant``; ``adaptive``
        (divide the rate by 5 whenever the stopping rule sees ``n_iter_no_change`` epochs without
        improvement, stop below 1e-6); nnscratch's ``step``, ``exponential`` or ``cosine`` completed
        for ``max_iter`` epochs; or an nnscratch schedule config dict / Schedule.
    learning_rate_init : initial learning rate.
    max_iter : maximum number of epochs per call of :meth:`fit`.
    tol, n_iter_no_change : stop when the training loss (validation accuracy with ``early_stopping``)
        has not improved by ``tol`` for ``n_iter_no_change`` consecutive epochs.
    random_state : int, ``RandomState`` or None; seeds initialisation, shuffling, dropout and the
        validation split.
    early_stopping, validation_fraction : hold out a stratified ``validation_fraction`` of the
        training data, stop on its accuracy and keep the best weights seen.
    warm_start : let :meth:`fit` continue from the current weights *and optimizer state*.
    verbose : print the loss after each epoch.
    momentum : momentum of the ``momentum`` / ``nesterov`` solvers.
    beta_1, beta_2, epsilon : Adam / AdamW constants.
    weight_decay : decoupled weight decay of ``adamw``.
    loss : ``log_loss`` (cross-entropy) or ``squared_error`` (the tutorial's sum of squares).
    init : ``auto`` (``he`` for relu-like, ``xavier`` otherwise), ``tutorial``, ``xavier`` or ``he``.
    dropout : inverted-dropout rate of the hidden layers.
    dtype : the precision the network computes in: ``auto`` (default; scikit-learn's convention, as
        ``MLPClassifier``: float32 when the data given to the first :meth:`fit` / :meth:`partial_fit`
        is float32, float64 otherwise), ``float32`` or ``float64``. Predictions are computed in the
        network's precision; in float32 they can differ in the last digits between a batch and its
        subsets.
    """

    def __init__(
        self,
        hidden_layer_sizes=(128, 64),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str | Mapping | Schedule = "constant",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        random_state=None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        warm_start: bool = False,
        verbose: bool = False,
        momentum: float = 0.9,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        loss: str = "log_loss",
        init: str = "auto",
        dropout: float = 0.0,
        dtype: str = "auto",
    ) -> None:
        self.hidden_layer_sizes, self.activation, self.solver = hidden_layer_sizes, activation, solver
        self.alpha, self.batch_size, self.learning_rate = alpha, batch_size, learning_rate
        self.learning_rate_init, self.max_iter, self.tol = learning_rate_init, max_iter, tol
        self.n_iter_no_change, self.random_state = n_iter_no_change, random_state
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.warm_start, self.verbose, self.momentum, self.beta_1 = warm_start, verbose, momentum, beta_1
        self.beta_2, self.epsilon, self.weight_decay, self.loss = beta_2, epsilon, weight_decay, loss
        self.init, self.dropout, self.dtype = init, dropout, dtype

    # ------------------------------------------------------------------ fitted views

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, (n_in, n_out) per layer as in scikit-learn (views of the network's ``W.T``)."""
        check_is_fitted(self, "network_")  # NotFittedError is an AttributeError: hasattr() is False
        return [self.network_.params[f"W{l}"].T for l in range(1, self.network_.n_layers + 1)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, (n_out,) per layer (views of the network's ``b``)."""
        check_is_fitted(self, "network_")
        return [self.network_.params[f"b{l}"] for l in range(1, self.network_.n_layers + 1)]

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y) -> NNScratchClassifier:
        """Train for up to ``max_iter`` epochs (from scratch unless ``warm_start``); return ``self``."""
        self._check_params()
        incremental = bool(self.warm_start) and "network_" in vars(self)
        X, y = validate_data(self, X, y, reset=not incremental, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        classes = np.unique(y)
        if incremental:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"warm_start needs y to have the same classes as the previous fit "
                    f"({list(self.classes_)}), got {list(classes)}"
                )
            self._sync_network()
            if (self.validation_scores_ is not None) != bool(self.early_stopping):
                self._reset_stopping()  # early_stopping was switched with set_params since the last fit
        else:
            self._initialize(X.shape[1], classes, X.dtype)
        labels = self._encode(y)
        x_val = y_val = None
        if self.early_stopping:
            X, x_val, labels, y_val = self._validation_split(X, labels)
        self._no_improvement_count = 0
        self._best_params: dict[str, np.ndarray] | None = None
        converged = False
        for epoch in range(self.max_iter):
            self._epoch(X, labels, x_val, y_val, epoch)
            if self._should_stop():
                converged = True
                break
        if not converged:
            warnings.warn(
                f"NNScratchClassifier: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=2,
            )
        if self.early_stopping and self._best_params is not None:
            self.network_.set_params(self._best_params)
        self._best_params = None
        return self

    def partial_fit(self, X, y, classes=None) -> NNScratchClassifier:
        """One epoch over ``X, y``; ``classes`` (all labels that will ever appear) is required on the
        first call. The network, its optimizer state and random generator carry over between calls."""
        first = "network_" not in vars(self)
        self._check_params()
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        if first:
            self._initialize(X.shape[1], np.unique(np.asarray(classes)), X.dtype)
        else:
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValueError(
                    f"classes={list(np.unique(classes))} is not the same as on the first call to "
                    f"partial_fit ({list(self.classes_)})"
                )
            self._sync_network()
        self._epoch(X, self._encode(y), None, None, self.n_iter_)
        return self

    def _check_params(self) -> None:
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, numbers.Integral) else list(hidden)
        if not all(isinstance(h, numbers.Integral) and int(h) >= 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        choices = {
            "activation": ACTIVATIONS,
            "solver": SOLVERS,
            "loss": LOSSES,
            "init": INITS,
            "dtype": DTYPES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        lr = self.learning_rate
        if not isinstance(lr, (Mapping, Schedule)) and lr not in LEARNING_RATES:
            raise ValueError(f"learning_rate={lr!r} is not one of {', '.join(LEARNING_RATES)} or a schedule")
        if not (isinstance(self.max_iter, numbers.Integral) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a whole number >= 1, got {self.max_iter!r}")
        if not (isinstance(self.n_iter_no_change, numbers.Integral) and self.n_iter_no_change >= 1):
            raise ValueError(f"n_iter_no_change must be a whole number >= 1, got {self.n_iter_no_change!r}")
        bs = self.batch_size
        if bs != "auto" and not (isinstance(bs, numbers.Integral) and bs >= 1):
            raise ValueError(f"batch_size must be 'auto' or a whole number >= 1, got {bs!r}")
        if not self.learning_rate_init > 0 or self.alpha < 0 or self.tol < 0:
            raise ValueError("learning_rate_init must be > 0, alpha and tol must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")

    def _initialize(self, n_features: int, classes: np.ndarray, x_dtype: np.dtype) -> None:
        """Set the fitted attributes and build a fresh network for ``classes``, computing in ``dtype``
        (``auto``: the training data's float type, ``x_dtype``)."""
        if len(classes) < 2:
            raise DataError(
                f"y has only one class ({classes[0]!r} if any): a classifier needs at least 2 classes"
                if len(classes)
                else "y has no class labels: a classifier needs at least 2 classes"
            )
        hidden = self.hidden_layer_sizes
        hidden = [int(hidden)] if isinstance(hidden, numbers.Integral) else [int(h) for h in hidden]
        activation = ACTIVATIONS[self.activation]
        init = self.init
        if init == "auto":
            init = "he" if activation in ("relu", "leaky_relu") else "xavier"
        self.classes_ = classes
        self.network_ = DeepNeuralNetwork(
            sizes=[n_features, *hidden, len(classes)],
            epochs=1,
            l_rate=float(self.learning_rate_init),
            activation=activation,
            loss=LOSSES[self.loss],
            init=init,
            optimizer=self._optimizer_spec(),
            schedule="constant",
            seed=self._seed(),
            verbose=False,
            dtype=np.dtype(x_dtype if self.dtype == "auto" else self.dtype),
        )
        self._sync_network()
        self.n_layers_ = len(hidden) + 2
        self.n_outputs_ = len(classes)
        self.out_activation_ = "softmax"
        self.loss_curve_: list[float] = []
        self._reset_stopping()
        self.n_iter_ = 0
        self.t_ = 0

    def _reset_stopping(self) -> None:
        """As MLPClassifier: the best loss is tracked without early stopping, validation scores with it."""
        self.best_loss_: float | None = None if self.early_stopping else np.inf
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None
        self.best_validation_score_: float | None = -np.inf if self.early_stopping else None

    def _optimizer_spec(self) -> dict:
        spec: dict = {"name": self.solver}  # a config dict for nnscratch.training.optimizers.get_optimizer
        if self.solver in ("momentum", "nesterov"):
            spec["momentum"] = float(self.momentum)
        elif self.solver in ("adam", "adamw"):
            spec.update(beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon))
            if self.solver == "adamw":
                spec["weight_decay"] = float(self.weight_decay)
        return spec

    def _sync_network(self) -> None:
        """Apply the current hyper-parameters to the network. Its optimizer is replaced (and its state
        reset) only when the solver or its constants changed."""
        net = self.network_
        wanted = get_optimizer(self._optimizer_spec(), lr=float(self.learning_rate_init))
        if {**wanted.config(), "lr": 0} != {**net.optimizer.config(), "lr": 0}:
            net.optimizer = wanted
        net.schedule = get_schedule("constant")  # the rate is set per epoch by _epoch
        net.dropout = float(self.dropout)
        lr = self.learning_rate
        self._schedule = get_schedule("constant" if lr == "adaptive" else lr, epochs=self.max_iter)
        self._base_lr = float(self.learning_rate_init)

    def _seed(self) -> int | None:
        if self.random_state is None:
            return None
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """Class indices 0..k-1 of the labels ``y`` (ValueError naming any label not in ``classes_``)."""
        idx = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels not in classes_ {list(self.classes_)}: {list(np.unique(y[unknown]))}"
            )
        return idx.astype(np.intp)

    def _validation_split(self, X, labels):
        x_tr, x_val, y_tr, y_val = train_test_split(
            X,
            labels,
            test_size=self.validation_fraction,
            stratify=labels,
            random_state=self.random_state,
        )
        if len(y_val) < 2:
            raise ValueError("the validation set is too small: increase validation_fraction or add data")
        return x_tr, x_val, y_tr, y_val

    def _epoch(self, X, labels, x_val, y_val, t: int) -> None:
        """Train the network for exactly one epoch at the scheduled rate for epoch ``t`` (0-based) and
        record its loss (and validation accuracy)."""
        net = self.network_
        net.l_rate = float(self._schedule(float(t), self._base_lr))
        n = len(labels)
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        net.batch_size = min(batch, n)
        net.l2 = float(self.alpha) / net.batch_size
        net.epochs = 1
        logs = net.train(X, labels, x_val, y_val, callbacks=[])[-1]
        penalty = 0.5 * net.l2 * sum(float(np.vdot(W, W)) for W in self.coefs_)
        loss = float(logs["loss"]) + penalty
        self.loss_curve_.append(loss)
        self.n_iter_ += 1
        self.t_ += n
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        if x_val is not None and self.validation_scores_ is not None:
            self.validation_scores_.append(float(logs["val_accuracy"]))
            if self.verbose:
                print(f"Validation score: {self.validation_scores_[-1]:f}")

    def _should_stop(self) -> bool:
        """MLPClassifier's stopping rule after an epoch; with ``adaptive``, lower the rate instead."""
        if self.validation_scores_ is not None and self.best_validation_score_ is not None:  # early stopping
            score = self.validation_scores_[-1]
            improved = score >= self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.network_.get_params()
        elif self.best_loss_ is not None:
            loss = self.loss_curve_[-1]
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        else:
            raise RuntimeError("_initialize sets either the validation scores or the best loss")
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        if self._no_improvement_count <= self.n_iter_no_change:
            return False
        if self.learning_rate == "adaptive" and self._base_lr > 1e-6:
            self._base_lr /= 5.0
            self._no_improvement_count = 0
            if self.verbose:
                print(f"Setting learning rate to {self._base_lr:f}")
            return False
        if self.verbose:
            print(f"No improvement for {self.n_iter_no_change} consecutive epochs: stopping.")
        return True

    # ------------------------------------------------------------------ predicting

    def _logits(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.network_.logits(X).astype(np.float64)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        return softmax(self._logits(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba` (``-inf`` where a probability underflows to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class label of each row."""
        index = self.predict_proba(X).argmax(axis=1)
        return self.classes_[index]
