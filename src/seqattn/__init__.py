"""seqattn: sequence models and attention, from RNNs to multi-head attention.

Every building block is written from scratch and checked against a trusted reference
(torch.nn in float64); every classic claim is a runnable experiment (``seqattn run --list``).
"""

__version__ = "0.1.0"


def load(path):
    """The model saved in the directory ``path``, whatever its kind (classifier, translator,
    captioner): :func:`seqattn.pipelines.load_model`. ``import seqattn`` itself stays light
    (torch is imported on the first call).

    >>> import seqattn
    >>> model = seqattn.load("model")  # doctest: +SKIP
    >>> model.predict(["a good film"])[0].label  # doctest: +SKIP
    'pos'
    """
    from seqattn.pipelines.loading import load_model

    return load_model(path)
