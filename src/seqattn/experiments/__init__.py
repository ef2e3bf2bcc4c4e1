"""Runnable experiments, one module each: a declaration (config, run, quick scale, tables).

``run_experiment(name, ...)`` (:mod:`seqattn.experiments.runner`) owns the run lifecycle;
:mod:`seqattn.experiments.toolkit` and :mod:`seqattn.training.loop` hold what they share.
"""

from seqattn.experiments.attention_complexity import EXPERIMENT as _COMPLEXITY
from seqattn.experiments.attention_scores import EXPERIMENT as _SCORES
from seqattn.experiments.base import Experiment
from seqattn.experiments.bottleneck import EXPERIMENT as _BOTTLENECK
from seqattn.experiments.clipping import EXPERIMENT as _CLIPPING
from seqattn.experiments.gat import EXPERIMENT as _GAT
from seqattn.experiments.language_model import EXPERIMENT as _LANGUAGE_MODEL
from seqattn.experiments.memn2n import EXPERIMENT as _MEMN2N
from seqattn.experiments.ntm_copy import EXPERIMENT as _NTM_COPY
from seqattn.experiments.ntm_recall import EXPERIMENT as _NTM_RECALL
from seqattn.experiments.recall import EXPERIMENT as _RECALL
from seqattn.experiments.se import EXPERIMENT as _SE
from seqattn.experiments.sentiment import EXPERIMENT as _SENTIMENT
from seqattn.experiments.show_attend_tell import EXPERIMENT as _SHOW_ATTEND_TELL
from seqattn.experiments.tbptt_window import EXPERIMENT as _TBPTT
from seqattn.experiments.translate import EXPERIMENT as _TRANSLATE
from seqattn.experiments.vanishing_gradients import EXPERIMENT as _VANISHING

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e for e in (_VANISHING, _COMPLEXITY, _SCORES, _CLIPPING, _TBPTT, _SENTIMENT, _SE)
}
EXPERIMENTS[_GAT.name] = _GAT
EXPERIMENTS[_LANGUAGE_MODEL.name] = _LANGUAGE_MODEL
EXPERIMENTS[_MEMN2N.name] = _MEMN2N
EXPERIMENTS[_TRANSLATE.name] = _TRANSLATE
EXPERIMENTS[_BOTTLENECK.name] = _BOTTLENECK
EXPERIMENTS[_NTM_COPY.name] = _NTM_COPY
EXPERIMENTS[_NTM_RECALL.name] = _NTM_RECALL
EXPERIMENTS[_SHOW_ATTEND_TELL.name] = _SHOW_ATTEND_TELL
EXPERIMENTS[_RECALL.name] = _RECALL


def get(name: str) -> Experiment:
    """Look an experiment up by name; a ValueError lists the known names."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"expected an experiment from {sorted(EXPERIMENTS)}, got {name!r}"
        ) from None


from seqattn.experiments.runner import RunRecord, resolve_config, run_experiment  # noqa: E402

__all__ = ["EXPERIMENTS", "Experiment", "RunRecord", "get", "resolve_config", "run_experiment"]
