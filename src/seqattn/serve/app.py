"""The web app of ``seqattn serve``: the explorer page and its JSON API (docs/serve.md).

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(models=[])
    >>> TestClient(app).get("/api/models").json()["models"]
    []
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from seqattn.serve import schemas
from seqattn.serve.files import run_index, safe_file
from seqattn.serve.models import SHADE_RGB, Limits, RequestError, ServedModel, load_served

__all__ = ["create_app"]

log = logging.getLogger(__name__)
_STATIC = {"app.js": "text/javascript", "style.css": "text/css"}


def _static(name: str) -> str:
    return resources.files("seqattn.serve").joinpath("static", name).read_text(encoding="utf-8")


def create_app(
    models: list[str | os.PathLike] | dict[str, ServedModel] = (),
    runs: str | os.PathLike | None = None,
    limits: Limits | None = None,
    scenes: str | os.PathLike | None = None,
) -> FastAPI:
    """The explorer app over model folders (or already loaded :class:`ServedModel` s).

    Args:
        models: model directories (any kind :func:`seqattn.load` reads).
        runs: a folder of run folders whose report.html files the page lists and serves.
        limits: request limits (default :class:`Limits`).
        scenes: a folder of PNG scenes for captioners (default: generated scenes).

    Raises:
        ModelLoadError: a model folder that does not load (the folder and the reason).
    """
    served = dict(models) if isinstance(models, dict) else load_served(list(models), scenes)
    limits = limits or Limits()
    runs_dir = Path(runs) if runs is not None else None
    if runs_dir is not None and not runs_dir.is_dir():
        raise ValueError(f"expected runs to be a folder, got {runs_dir}")
    app = FastAPI(title="seqattn explorer", docs_url="/api/docs", redoc_url=None)

    # a body larger than the largest valid request (max_batch texts of max_chars characters,
    # each up to 4 bytes in UTF-8 or 6 as a JSON escape) is refused before it is read
    max_body = 6 * limits.max_batch * limits.max_chars + 4096

    @app.middleware("http")
    async def _body_limit(request: Request, call_next):
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > max_body:
            return JSONResponse({"detail": f"expected a request body of at most {max_body} "
                                           f"bytes (max_batch x max_chars), got {size}"},
                                status_code=413)  # fmt: skip
        return await call_next(request)

    @app.exception_handler(RequestError)
    def _request_error(_request: Request, err: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    def get(name: str) -> ServedModel:
        if name not in served:
            raise HTTPException(404, f"expected a model among {sorted(served)}, got {name!r}")
        return served[name]

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return _static("index.html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(_static(name), media_type=_STATIC[name])

    @app.get("/api/models", response_model=schemas.ModelsResponse)
    def list_models() -> schemas.ModelsResponse:
        lim = {"max_chars": limits.max_chars, "max_batch": limits.max_batch,
               "max_beam": limits.max_beam}  # fmt: skip
        return schemas.ModelsResponse(models=[m.info() for m in served.values()],
                                      shade_rgb=SHADE_RGB, limits=lim)  # fmt: skip

    @app.post("/api/classify", response_model=schemas.ClassifyResponse)
    def classify(req: schemas.ClassifyRequest) -> schemas.ClassifyResponse:
        return get(req.model).classify(req.texts, limits)

    @app.post("/api/translate", response_model=schemas.TranslateResponse)
    def translate(req: schemas.TranslateRequest) -> schemas.TranslateResponse:
        return get(req.model).translate(req.text, req.beam, limits)

    @app.post("/api/caption", response_model=schemas.CaptionResponse)
    def caption(req: schemas.CaptionRequest) -> schemas.CaptionResponse:
        return get(req.model).caption(req.scene, req.beam, limits)

    @app.get("/api/runs", response_model=list[schemas.RunInfo])
    def runs_list() -> list[schemas.RunInfo]:
        if runs_dir is None:
            return []
        return [schemas.RunInfo(name=name, report=None if rep is None else f"/runs/{rep}")
                for name, rep in run_index(runs_dir)]  # fmt: skip

    @app.get("/runs/{rel:path}")
    def run_file(rel: str) -> FileResponse:
        path = safe_file(runs_dir, rel) if runs_dir is not None else None
        if path is None:
            raise HTTPException(404, "no such file in the runs folder")
        return FileResponse(path)

    return app
