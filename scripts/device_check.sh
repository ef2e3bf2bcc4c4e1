#!/usr/bin/env bash
# The one prepared run for a lent GPU machine (issue 21, item 4): the CUDA parity tests, then
# the benchmarks that take --device cuda, each bounded, everything written under $OUT (or
# runs/device/). Usage on the device: bash scripts/device_check.sh   (about 8 minutes)
set -u
OUT="${OUT:-runs/device}"
mkdir -p "$OUT"
# a Python whose torch has CUDA (the CPU wheel of `make install` has none): PY=... to choose
PY="${PY:-python3}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - <<'PY' | tee "$OUT/device.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0))
PY
run() {  # run NAME TIMEOUT CMD...: output to $OUT/NAME.log, status to $OUT/status.txt
    local name="$1" limit="$2"; shift 2
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "$name rc=$?" | tee -a "$OUT/status.txt"
}
run gpu-tests 240 "$PY" -m pytest -q -m gpu tests/gpu --junitxml="$OUT/gpu-tests.xml"
run attention 120 "$PY" benchmarks/attention.py --device cuda --lengths 1024 4096 16384 --bh 8 \
    --repeats 5 --json "$OUT/attention.json"
run recurrent 120 "$PY" benchmarks/recurrent.py --device cuda --repeats 5 --json "$OUT/recurrent.json"
run scan 60 "$PY" benchmarks/scan.py --device cuda --repeats 5 --json "$OUT/scan.json"
run local-attention 60 "$PY" benchmarks/local_attention.py --device cuda --repeats 3
run roofline 60 "$PY" benchmarks/roofline.py --device cuda --json "$OUT/roofline.json"
cat "$OUT/status.txt"
