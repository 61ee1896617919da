#!/usr/bin/env bash
# What a GPU machine adds to the CPU test suite: the torch tests on CUDA, a one-process NCCL run, and the GPU figures.
#
#   bash benchmarks/gpu.sh OUT_DIR [CIFAR10_ZIP_OR_FOLDER]
#
# Each step runs under its own time limit and writes OUT_DIR/<step>.log; a failed step does not stop the next one.
# STEPS="tests speed" runs only those steps (default: tests nccl speed kfold accuracy decoded pixels).
# The figures go to benchmarks/figures/*_cuda.json and are copied to OUT_DIR. Run from the repository root with the
# project's dependencies importable (PYTHON names the interpreter; python3 by default).
set -u
out=${1:?usage: bash benchmarks/gpu.sh OUT_DIR [CIFAR10_ZIP_OR_FOLDER]}
data=${2:-../shared/data/cifar-10.zip}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

step() {  # step NAME SECONDS COMMAND...: run under a limit, log to OUT_DIR/NAME.log, print the rc and the log's tail
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    case " ${STEPS:-tests nccl speed kfold accuracy decoded pixels} " in *" $name "*) ;; *) return 0 ;; esac
    echo "== $name (limit ${limit} s): $*"
    timeout -k 10 "$limit" "$@" >"$out/$name.log" 2>&1
    rc=$?
    echo "== $name: rc $rc in $((SECONDS - t0)) s"
    tail -n "${TAIL:-12}" "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c "import torch, timm, pandas, sklearn, albumentations as A; print('torch', torch.__version__, 'cuda', \
torch.cuda.is_available(), torch.version.cuda, '| timm', timm.__version__, '| pandas', pandas.__version__, \
'| sklearn', sklearn.__version__, '| albumentations', A.__version__)"

# 1. The torch tests on CUDA: the runner, estimators and trainers pick the GPU, bf16 autocast and channels_last.
#    test_distributed is left out: its two ranks would both need a GPU of their own under NCCL. With pytest-xdist
#    the tests share the GPU in 4 processes (one after another they took over 200 s on an H200 machine).
parallel=$("$py" -c "import xdist" 2>/dev/null && echo "-n 4")
TAIL=25 step tests 200 "$py" -m pytest -p no:cacheprovider -o addopts= -q -rfE --durations=10 $parallel \
    tests/test_training_core.py tests/test_vision_estimator.py tests/test_vision_resume.py tests/test_batch_augment.py \
    tests/test_vision_units.py tests/test_cifar10.py tests/test_finetune.py tests/test_dog_breeds.py \
    tests/test_leaves.py tests/test_cowboy.py tests/test_detection.py tests/test_tabular_mlp.py tests/test_recipes.py \
    tests/test_pixels.py tests/test_new_pixels.py

# 2. torchrun with one process: NCCL, cuda:LOCAL_RANK, DDP and rank-0 writes, on the built-in sample.
step nccl 60 "$py" -m torch.distributed.run --standalone --nproc_per_node 1 -m pipeline run competitions/cifar10 \
    --sample --tag nccl

# 3. Trainer throughput against a hand-written loop on the GPU (ratio): the default (augmentation batched on the GPU)
#    against albumentations in loader workers (augment_on=loader), and deterministic=False.
step speed 100 "$py" benchmarks/cifar10_train_speed.py --data "$data" --images 10000 --rounds 5 --preset gpu \
    --variants default,loader,nondeterministic

# 4. The heart of it on a GPU: k-fold CV with OOF predictions and a validated submission, one command.
step kfold 150 "$py" -m pipeline run competitions/cifar10 --data "$data" --preset gpu --time-limit 120 --tag gpu-kfold
summary=$(ls -t runs/cifar10/*gpu-kfold*/summary.json 2>/dev/null | head -n 1)  # none when the step was skipped
[ -n "$summary" ] && cp "$summary" "$out/kfold_summary.json"

# 5. Accuracy in a fixed time against the D2L book's recipe on the same GPU and holdout.
step accuracy 170 "$py" benchmarks/cifar10_accuracy.py --data "$data" --time-limit 60 --preset gpu

# 6. A 5-fold run with its decoded images held against decoding them as read (--cache-mb 0), the tiny network.
step decoded 150 "$py" benchmarks/decoded_images.py --data "$data" --rounds 2

# 7. A table of images at Digit Recognizer's size (generated, 42,000 + 28,000 rows): new, load, and one fold-epoch of
#    the cnn with its predictions on CUDA (2 CPU cores: 49 s and 39 s), LightGBM's 20 rounds beside it.
step pixels 200 "$py" benchmarks/tabular_pixels.py --trees 20

# 8. Not in the default steps (STEPS=detinputs): detection's input pipeline (benchmarks/detection_inputs.py) with 8
#    workers on the GPU machine's cores, the held images against decoded as read.
step detinputs 240 "$py" benchmarks/detection_inputs.py --workers 8 --rounds 2 --figure detection_inputs_cuda

cp benchmarks/figures/*_cuda.json "$out/" 2>/dev/null
ls "$out"
