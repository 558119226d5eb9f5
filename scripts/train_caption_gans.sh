#!/usr/bin/env bash
# Retrains the shipped caption models on the cleaned corpus with tones: an LSTM prior on every cleaned
# sentence, then (on the sentences that mention a concept) its MLE baseline and its SeqGAN fine-tune; the same
# for the Gumbel-softmax transformer. One CPU thread per chain; run both chains at once on two cores:
#   scripts/train_caption_gans.sh lstm runs/r20 &  scripts/train_caption_gans.sh transformer runs/r20 &
# Then ship with: python -c "from stylecap.plugins.captions.cli import load_backend; load_backend(RUN).save(FILE, half=True)"
# Sizes (by default the smaller models of the third blind read): PRIOR_STEPS, PRIOR_LR, PRIOR_BATCH, EMBED and HIDDEN
# (the LSTM), GENERATOR (the transformer's options); the shipped models are larger: near the shipped SeqGAN's prior
# (its exact command in docs/studies/captions.md), and the shipped transformer:
#   PRIOR_STEPS=6000 PRIOR_LR=2e-3 PRIOR_BATCH=64 EMBED=128 HIDDEN=384 scripts/train_caption_gans.sh lstm runs/big
#   GENERATOR=width=256,layers=2,ff=1024 scripts/train_caption_gans.sh transformer runs/big
set -euo pipefail
chain=$1; out=$2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
prior_steps=${PRIOR_STEPS:-3000}
generator=(); if [[ -n ${GENERATOR:-} ]]; then generator=(--generator-options "$GENERATOR"); fi
common=(--min-count 15 --log-every 100)
case $chain in
  lstm)
    stylecap train caption mle-lstm --out "$out/lstm-prior" --no-mentions-only --steps "$prior_steps" \
        --embed "${EMBED:-64}" --hidden "${HIDDEN:-160}" --batch-size "${PRIOR_BATCH:-48}" --lr "${PRIOR_LR:-5e-3}" \
        --lr-schedule cosine "${common[@]}"
    # The MLE baseline: the prior's teacher forcing continued on the concept sentences, as the GAN's first phase.
    stylecap train caption seqgan --init "$out/lstm-prior" --out "$out/lstm-mle" --mle-steps 400 --steps 400 \
        --lr 1e-3 "${common[@]}"
    stylecap train caption seqgan --init "$out/lstm-mle" --out "$out/seqgan" --steps 600 \
        --d-pretrain-steps 200 --lr-d 1e-3 --log-every 50 ;;
  transformer)
    stylecap train caption gumbel-transformer --out "$out/gt-prior" --no-mentions-only --steps "$prior_steps" \
        --mle-steps "$prior_steps" "${generator[@]}" --batch-size 48 --lr 1e-3 --lr-schedule cosine --warmup-steps 100 \
        --seed 1 "${common[@]}"
    stylecap train caption gumbel-transformer --init "$out/gt-prior" --out "$out/gt-mle" --mle-steps 400 \
        --steps 400 --lr 3e-4 --seed 1 "${common[@]}"
    stylecap train caption gumbel-transformer --init "$out/gt-mle" --out "$out/gt-gan" --steps 1000 \
        --d-pretrain-steps 200 --lr 2e-4 --lr-g 3e-5 --lr-d 3e-4 --mle-every 2 --log-every 50 --seed 1 \
        --discriminator caption-soft-transformer ;;
  *) echo "chain must be lstm or transformer, not '$chain'" >&2; exit 2 ;;
esac
