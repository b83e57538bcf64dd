#!/usr/bin/env bash
# The mini-reproduction of docs/results.md: SmolLM2-135M-Instruct as every student, on CPU,
# trained on a few hundred rows of the reference data and tested on a few hundred more.
#
#   bash bench/reproduce.sh [DATA] [N_TRAIN] [N_TEST] [SEED] [PROGRAM ...]
#
# DATA is the reference data folder (default ../shared/data), which the programs may read
# (--allow-read DATA: it is outside their folder); PROGRAM is scicot, tinyllm,
# nesycd or cowest (default: the first three). Each run prints its wall time. Each run goes into its own
# store under .collab/reproduce/ (a rerun reuses every finished operation: 0 model calls);
# `collab show latest --store .collab/reproduce/NAME.db` prints a table again.
set -euo pipefail
DATA=${1:-../shared/data}
N_TRAIN=${2:-200}
N_TEST=${3:-200}
SEED=${4:-0}
OUT=.collab/reproduce
mkdir -p "$OUT"
COLLAB=${COLLAB:-collab}
shift $(( $# < 4 ? $# : 4 ))
PROGRAMS=${*:-scicot tinyllm nesycd}
common=(--set "n_train=$N_TRAIN" --set "n_test=$N_TEST" --seed "$SEED" --allow-read "$DATA")

scicot() {
# 1. Sci-CoT vs its fine-tune and one-stage baselines: ARC-Challenge train with the stored
#    FLAN-T5 rationales as the teacher, tested on the ARC-Challenge test set (train and test
#    of one benchmark, as the paper's ARC-C column; tests/programs/test_scicot.py pins it).
$COLLAB run programs/scicot.collab "${common[@]}" --store "$OUT/scicot.db" \
  --set "train_data=$DATA/arc/arc_train.json" --set options_column=choices \
  --set "stored_rationales=$DATA/arc/llm/train_CoT_*.json" \
  --set "test_data=$DATA/arc-test/ARC-Challenge-Test.json" --set test_format=input_target
}

tinyllm() {
# 2. TinyLLM vs distill step-by-step, Standard KD, full fine-tuning and LoRA: ARC with the two stored teachers
#    (FLAN-T5 and LLaMA-2 rationales of the TinyLLM authors; Standard KD learns FLAN-T5's labels).
#    One optimizer step per batch of 8 questions with all their tasks, for every student.
$COLLAB run programs/tinyllm.collab "${common[@]}" --store "$OUT/tinyllm.db" \
  --set "train_data=$DATA/arc/arc_train.json" --set "test_data=$DATA/arc/arc_test.json" \
  --set options_column=choices --set "stored_rationales=$DATA/arc/llm/train_CoT_*.json"
}

nesycd() {
# 3. Std-CoT vs fine-tuning, MT-CoT and Step-by-step on CommonsenseQA with the stored PaLM
#    rationales (the NesyCD program's baselines; its KB steps are switched off). One epoch,
#    like the two runs above (the paper trains 10, the embedded profile 2).
$COLLAB run programs/nesycd.collab "${common[@]}" --store "$OUT/nesycd.db" \
  --set "train_data=$DATA/cqa/cqa_train.json" --set "test_data=$DATA/cqa/cqa_test.json" \
  --set options_column=choices --set "stored_rationales=$DATA/cqa/llm/train_CoT_*.json" \
  --set with_nesycd=false --set sp_epochs=1 --set task_name=commonsense \
  --set "task_description=Answer the multiple-choice commonsense question"
}

cowest() {
# 4. CoWeSt vs its weak, strong and Self-Refine rows on CommonsenseQA, the ground truth's
#    explanations from the stored PaLM CoTs; preference data from the embedded profile's
#    n_pref queries (10).
$COLLAB run programs/cowest.collab "${common[@]}" --store "$OUT/cowest.db" \
  --set "train_data=$DATA/cqa/cqa_train.json" --set "test_data=$DATA/cqa/cqa_test.json" \
  --set options_column=choices --set "stored_rationales=$DATA/cqa/llm/train_CoT_*.json" \
  --set "instruction=Given a question, choose the right answer from five options."
}

for p in $PROGRAMS; do
  start=$(date +%s)
  "$p"
  echo "$p: $(( $(date +%s) - start )) s (n_train=$N_TRAIN, n_test=$N_TEST, seed=$SEED)"
done
