"""``seqattn data list | info NAME | download NAME | verify NAME``: the dataset registry."""

from __future__ import annotations

import argparse
import sys

ENV_VAR = "SEQATTN_DATA_DIR"


def _ds():
    # Imported on use: the loaders pull in torch/numpy, which `seqattn --help` does not need.
    from seqattn.data import datasets

    return datasets


def _root(args: argparse.Namespace):
    return getattr(args, "root", None)


def _cmd_list(args: argparse.Namespace) -> int:
    ds = _ds()
    root = ds.data_dir(_root(args))
    print(f"data dir: {root}")
    infos = ds.list_datasets()
    width = max(len(i.name) for i in infos)
    fwidth = max(len(i.folder) for i in infos)
    for info in infos:
        missing = ds.missing_files(info.name, root)
        if not missing:
            state = "present"
        elif len(missing) == len(info.required_files):
            state = "absent"
        else:
            state = f"partial ({len(missing)} of {len(info.required_files)} files missing)"
        print(f"{info.name:<{width}}  {info.folder + '/':<{fwidth + 1}}  {state:<9}  "
              f"{info.description}")  # fmt: skip
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    ds = _ds()
    info = ds.get_info(args.name)
    print(f"{info.name}: {info.description}")
    print(f"folder:   {ds.dataset_dir(info.name, _root(args))}")
    print(f"homepage: {info.homepage}")
    print(f"license:  {info.license}")
    print(f"cite:     {info.citation}")
    if info.counts:
        print("records:  " + ", ".join(f"{k} {v:,}" for k, v in info.counts.items()))
    for note in info.notes:
        print(f"note:     {note}")
    print("files:")
    for f in info.files:
        flag = " (optional)" if f.optional else ""
        size = f"{f.size:,} bytes" if f.size else "size unknown"
        print(f"  {f.path}{flag}  [{size}]")
        check = "content check" if f.validate else "unverified"
        print(f"    sha256 {f.sha256 or f'(none known: {check})'}")
        print(f"    from   {f.url}" + (f"  member {f.member}" if f.member else ""))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    ds = _ds()
    info = ds.get_info(args.name)
    folder = ds.dataset_dir(info.name, _root(args))
    statuses = ds.verify(info.name, _root(args))
    width = max(len(s.path) for s in statuses)
    for s in statuses:
        status = s.status + (" (optional)" if s.optional and s.status == "missing" else "")
        print(f"{s.path:<{width}}  {status:<18}  {s.detail}".rstrip())
    failed = [s for s in statuses if s.failed]
    if failed:
        print(f"{info.name}: {len(failed)} file(s) missing or corrupt in {folder}", file=sys.stderr)
        return 1
    print(f"{info.name}: ok ({folder})")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    ds = _ds()
    info = ds.get_info(args.name)
    from tqdm.auto import tqdm

    bars: dict[str, tqdm] = {}

    def progress(url: str, done: int, total: int | None) -> None:
        bar = bars.get(url)
        if bar is None:
            bar = bars[url] = tqdm(total=total, unit="B", unit_scale=True, desc=url.split("/")[-1],
                                   disable=None)  # fmt: skip
        bar.update(done - bar.n)

    try:
        written = ds.download(info.name, _root(args), include_optional=args.all, progress=progress)
    except ds.DatasetNotFoundError as err:
        print(f"seqattn data download: {err}", file=sys.stderr)
        return 2
    except ds.ChecksumError as err:
        print(f"seqattn data download: {err}", file=sys.stderr)
        return 1
    finally:
        for bar in bars.values():
            bar.close()
    folder = ds.dataset_dir(info.name, _root(args))
    if not written:
        print(f"{info.name}: nothing to download, the files are in {folder}")
    for path in written:
        print(f"wrote {path}")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if not getattr(args, "data_func", None):
        args.data_parser.print_help()
        return 0
    try:
        return args.data_func(args)
    except ValueError as err:  # an unknown dataset name, typically
        print(f"seqattn data: {err}", file=sys.stderr)
        return 2


def register(subparsers) -> None:
    """Add the ``data`` command and its subcommands to the ``seqattn`` parser."""
    data = subparsers.add_parser(
        "data",
        help="list, describe, download and verify the real datasets",
        description="Datasets live in <data dir>/<folder>/; the data dir is --root, else "
        f"${ENV_VAR}, else ~/.cache/seqattn/data.",
    )
    data.set_defaults(func=_dispatch, data_parser=data)
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    def add(name: str, func, help: str, with_name: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        if with_name:
            p.add_argument("name", help="dataset name (see `seqattn data list`)")
        p.add_argument("--root", help=f"data dir (default ${ENV_VAR} or ~/.cache/seqattn/data)")
        p.set_defaults(data_func=func)
        return p

    add("list", _cmd_list, "list the datasets and whether they are present", with_name=False)
    add("info", _cmd_info, "description, licence, files, URLs and record counts")
    dl = add("download", _cmd_download, "fetch the missing files (needs network access)")
    dl.add_argument("--all", action="store_true", help="also fetch optional files (licences, ...)")
    add("verify", _cmd_verify, "check every file's sha256; exit 1 if one is missing or corrupt")
