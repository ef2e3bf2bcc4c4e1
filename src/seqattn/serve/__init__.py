"""``seqattn serve``: a local attention explorer over saved models (docs/serve.md).

Needs the ``serve`` extra (FastAPI, uvicorn): ``pip install 'seqattn[serve]'``.
"""

from seqattn.serve.app import create_app
from seqattn.serve.models import Limits, ModelLoadError, ServedModel, load_served

__all__ = ["Limits", "ModelLoadError", "ServedModel", "create_app", "load_served"]
