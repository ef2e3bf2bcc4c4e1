"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` as methods of every saved-model
class (the Hugging Face ``ModelHubMixin`` surface), delegating to :mod:`seqattn.pipelines.hub`.

The functions live in ``hub`` (imported on the first call: ``hub`` imports every model class
through :func:`~seqattn.pipelines.loading.load_model`, so importing it here would be circular).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["HubMixin"]


class HubMixin:
    """Hub methods for a class with ``save(dir)`` and ``load(dir)``.

    Example:
        >>> from seqattn.pipelines import ClassifierBundle
        >>> model = ClassifierBundle.from_pretrained("user/my-model")  # doctest: +SKIP
        >>> model.save_pretrained("shared", metrics={"accuracy": 0.78})  # doctest: +SKIP
    """

    def save_pretrained(
        self,
        out_dir: str | os.PathLike,
        *,
        command: str | None = None,
        datasets: list[str] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> Path:
        """The model directory plus a ``README.md`` model card (:func:`hub.save_pretrained`)."""
        from seqattn.pipelines import hub

        return hub.save_pretrained(self, out_dir, command=command, datasets=datasets,
                                   metrics=metrics)  # fmt: skip

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | None = None,
    ) -> Any:
        """Load a local folder or a Hub id (:func:`hub.from_pretrained`); a saved model of
        another class (a translator asked for as a classifier) is refused by name."""
        from seqattn.pipelines import hub

        model = hub.from_pretrained(source, revision=revision, cache_dir=cache_dir, token=token)
        if not isinstance(model, cls):
            raise ValueError(
                f"expected a saved {cls.__name__} in {source}, got a {type(model).__name__}"
            )
        return model

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool = False,
        commit_message: str = "Upload seqattn model",
        **card: Any,
    ) -> Any:
        """Upload the model with its card to the Hub repo ``repo_id`` (:func:`hub.push_to_hub`;
        needs network and a token with write access)."""
        from seqattn.pipelines import hub

        return hub.push_to_hub(self, repo_id, token=token, private=private,
                               commit_message=commit_message, **card)  # fmt: skip
