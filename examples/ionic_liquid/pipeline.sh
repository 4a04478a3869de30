#!/usr/bin/env bash
# The jat-ean pipeline: GFN1-xTB data for liquid ethylammonium nitrate and the eight training stages
# that lead to the shipped potentials/jat-ean. Every stage is examples/configs/jat_ean.yaml with
# `--set` overrides; the last stage is that file as it stands. Run from the project root.
#
#   examples/ionic_liquid/pipeline.sh                     # train all stages on the committed data in data/
#   examples/ionic_liquid/pipeline.sh --from angular      # start at a stage (earlier outputs in runs/ needed)
#   examples/ionic_liquid/pipeline.sh --regenerate-data   # also relabel every data file with tblite (hours)
#   examples/ionic_liquid/pipeline.sh --ship              # finally copy runs/jat-ean into potentials/jat-ean
#   examples/ionic_liquid/pipeline.sh --dry-run           # print the commands only
#
# What is reproduced: with the committed data the training stages run as they did for the shipped
# weights (same configs, seeds and budgets; stages stop at their wall-time budget, so on a slower or
# busier CPU they may run fewer epochs). The active-learning files were labelled along MD driven by
# the intermediate potentials of this chain; --regenerate-data drives that MD with this run's own
# stage outputs, which gives equivalent, not identical frames. The chain was run stage by stage as it
# was developed; nobody has rerun it end to end with this script. Budgets: about 7 hours of training
# on a 2-core x86_64 CPU, plus about 5 hours of labelling with --regenerate-data (docs/ionic_liquid.md).
set -euo pipefail

CONFIG=examples/configs/jat_ean.yaml
GENERATE="python examples/ionic_liquid/generate_data.py --pairs 8"
REGENERATE=0 SHIP=0 DRY=0 FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
        --regenerate-data) REGENERATE=1 ;;
        --ship) SHIP=1 ;;
        --dry-run) DRY=1 ;;
        --from) FROM="$2"; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

run() {  # print a command, then run it unless --dry-run
    echo "+ $*"
    [ "$DRY" = 1 ] || "$@"
}

started=0
reached() {  # true once the stage named by --from (or the first stage) is reached
    if [ -z "$FROM" ] || [ "$FROM" = "$1" ]; then started=1; fi
    [ "$started" = 1 ]
}

data() {  # data FILE GENERATOR-ARGS...: regenerate FILE with --regenerate-data, else check its sha256
    local file=$1; shift
    if [ "$REGENERATE" = 1 ]; then
        run $GENERATE "$@" --out "data/$file"
    else
        run sh -c "cd data && sha256sum -c $file.sha256"
    fi
}

stage() {  # stage NAME OVERRIDES...: one training stage, written to runs/jat-ean-NAME/
    local name=$1; shift
    local args=()
    for item in "$@"; do args+=(--set "$item"); done
    run attnff train "$CONFIG" --no-progress --set "name=jat-ean-$name" --set "output=../../runs/jat-ean-$name" \
        "${args[@]}"
}

out() { echo "../../runs/jat-ean-$1/jat-ean-$1.safetensors"; }   # a stage's file, relative to the config
D=../../data
FIRST="data.path=[$D/ean.extxyz,$D/ean_active.extxyz]"
MIXED="data.path=[$D/ean.extxyz,$D/ean_active.extxyz,$D/ean_mixed_seed3026.extxyz]"
DISTANCE_ONLY=(model.angular=0 model.angular_degree=2 model.angular_mixing=false)
FRESH=(training.init_from=null training.init_keep_scale=false)

# 1. Reference MD of 12 packed boxes (480 frames), and a small JAT (width 48) that drives the first MD.
if reached v0; then
    data ean.extxyz --configs 480
    stage v0 "data.path=$D/ean.extxyz" data.test_path=null model.width=48 "model.readout=[64,32,16,16]" \
        "${DISTANCE_ONLY[@]}" "${FRESH[@]}" training.epochs=30 training.max_minutes=14 training.lr=1.0e-3 \
        training.warmup_epochs=3 training.loss=mse training.energy_weight=10.0 training.patience=300 \
        training.threads=2
fi
# 2. Active learning with that potential (120 frames) and the test file (separate boxes, seed 9000).
if reached active; then
    data ean_active.extxyz --configs 0 --active-potential "runs/jat-ean-v0/jat-ean-v0.safetensors" \
        --active-configs 120 --workers 1
    data ean_test.extxyz --configs 80 --seed 9000 --active-potential "runs/jat-ean-v0/jat-ean-v0.safetensors" \
        --active-configs 40 --workers 1
fi
# 3. First stage: frames with every atomic force within 15 eV/A; its energy scale is kept from here on.
if reached base; then
    stage base "$FIRST" data.max_force=15.0 "${DISTANCE_ONLY[@]}" "${FRESH[@]}" training.epochs=100 \
        training.max_minutes=58 training.lr=1.0e-3 training.warmup_epochs=3 training.threads=2
fi
# 4. Second stage: all 600 frames, the near-collisions included (they teach the repulsive walls).
if reached stage2; then
    stage stage2 "$FIRST" "${DISTANCE_ONLY[@]}" "training.init_from=$(out base)" training.epochs=20 \
        training.max_minutes=16 training.lr=3.0e-4 training.threads=2
fi
# 5. 10 more reference-MD boxes and 24 boxes of MD driven by stage 2 (440 frames); fine-tune, then longer.
if reached mixed; then
    data ean_mixed_seed3026.extxyz --configs 200 --frames-per-segment 20 --stride 4 \
        --active-potential runs/jat-ean-stage2/jat-ean-stage2.safetensors --active-configs 240 --active-stride 200 \
        --seed 3026
    stage mixed "$MIXED" "${DISTANCE_ONLY[@]}" "training.init_from=$(out stage2)" training.epochs=15 \
        training.max_minutes=22 training.lr=3.0e-4 training.threads=2
fi
if reached long; then
    stage long "$MIXED" "${DISTANCE_ONLY[@]}" "training.init_from=$(out mixed)" training.epochs=60 \
        training.max_minutes=110 training.lr=3.0e-4
fi
# 6. Angular invariants switched on (16 channels, degree 2); their output map starts at zero.
if reached angular; then
    stage angular "$MIXED" model.angular=16 model.angular_degree=2 model.angular_mixing=false \
        "training.init_from=$(out long)" training.epochs=50 training.max_minutes=85 training.lr=3.0e-4 \
        training.threads=2
fi
# 7. 12 boxes of MD driven by the angular potential (240 frames); degree 3 and channel mixing switched on.
if reached l3mix; then
    data ean_active_seed4026.extxyz --configs 0 --active-potential runs/jat-ean-angular/jat-ean-angular.safetensors \
        --active-configs 240 --active-stride 200 --workers 1 --seed 4026
    stage l3mix "$MIXED" "training.init_from=$(out angular)" training.epochs=40 training.max_minutes=80 \
        training.lr=3.0e-4
fi
# 8. 20 more reference-MD boxes and 20 boxes driven by the degree-3 potential (300 frames), the test file of
#    the equilibrated liquid, and the last stage: examples/configs/jat_ean.yaml as it stands.
if reached final; then
    data ean_mixed_seed5026.extxyz --configs 200 --frames-per-segment 10 --stride 4 \
        --active-potential runs/jat-ean-l3mix/jat-ean-l3mix.safetensors --active-configs 100 --workers 1 --seed 5026
    data ean_test_equilibrated.extxyz --configs 0 --active-potential runs/jat-ean-l3mix/jat-ean-l3mix.safetensors \
        --equilibrated-configs 30 --equilibrated-frames-per-segment 5 --equilibrate-steps 3000 --warmup-steps 100 \
        --equilibrated-stride 10 --workers 1 --seed 7026
    run attnff train "$CONFIG" --no-progress
fi
if [ "$started" = 0 ]; then
    echo "unknown stage '$FROM' (stages: v0 active base stage2 mixed long angular l3mix final)" >&2; exit 2
fi
if [ "$SHIP" = 1 ]; then
    run python scripts/ship_potential.py runs/jat-ean/jat-ean.safetensors
fi
