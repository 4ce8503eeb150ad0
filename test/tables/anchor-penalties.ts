// Test vectors copied from the anchor projects' own unit tests for penalty / ban processors.
// Plain data only: numeric inputs and expected outputs are copied from the tests; no
// implementation code is copied. Where a field says "derived", it was worked out by hand
// here from the rule below and is NOT asserted by the source test.
//
// Sources (stored public copies):
//   LT = ggml-org/llama.cpp@f0817df540977d3e3bd9038e7e108fa4f3b4bbde tests/test-sampling.cpp
//   LS = ggml-org/llama.cpp@00efb3e184262872916bf136b3df63c1822a19bd src/llama-sampler.cpp
//        (rules read here; the stored copy at f0817df was not available, penalties/DRY code
//        is the long-stable Koboldcpp port)
//   HT = huggingface/transformers@5ea83b0e4bed678bda24e6a1512b7afae30f359a tests/generation/test_logits_process.py
//        (a later stored copy of the same file has identical vectors for these tests)
//   HS = huggingface/transformers@00857b6cf63a4fa05cbd9bdc8a4fd78b6168c5af src/transformers/generation/logits_process.py
//
// Rules as implemented (words only):
// - llama.cpp penalties (LS llama_sampler_penalties_*): accept() keeps a ring buffer of the last
//   penalty_last_n accepted tokens plus a count map (init clamps last_n to >= 0; 0 = disabled;
//   -1 is mapped to n_ctx by common/, not here). apply(): for each candidate with count c > 0:
//   if logit <= 0 then logit *= repeat else logit /= repeat (once, not per occurrence);
//   then logit -= c*freq + presence. No-op when repeat==1 && freq==0 && presence==0.
// - llama.cpp test harness (LT sampler_tester/test_penalties/test_dry): logits = logf(probs[i]),
//   token id = index; sampler_init_penalties(last_n = history.length, ...) or
//   init_dry_testing(context 1024, ...); every history token is accept()ed in order; the sampler
//   is applied, then dist(0), which computes an in-place, UNSORTED softmax (max-subtracted expf,
//   divided by the sum) over all candidates. check(): same size and |p_i - expected_i| < 1e-5.
//   So `expected` is a full normalised distribution in token-id order; penalties never remove
//   tokens, a 0 only means "below 1e-5" (e.g. 1.4e-35 for repeat 50).
// - llama.cpp DRY (LS llama_sampler_dry_apply): no-op if multiplier==0, base<1 or last_n==0
//   (-1 = context size). Window = last min(accepted, last_n, ctx) tokens (the ring buffer only
//   holds last_n); if window <= allowed_length: no-op. Step 1 (breakers): scan back from the
//   newest token (i = 0 is the newest) for the first token heading a sequence breaker whose
//   tail matches the tokens after it; rep_limit = i - tail_len (default: window). If
//   rep_limit < allowed_length: no-op. Step 2: for every earlier end position (k tokens back,
//   k >= 1), n = length of the longest common suffix of the window and the window cut k tokens
//   short (the earlier copy must lie fully inside the window; overlaps allowed), capped at
//   rep_limit. Step 3: if n >= allowed_length, the token that FOLLOWED that earlier copy (the
//   token k-1 back from the newest; for k=1 the newest token itself) is a candidate with
//   length n; keep the max n per token. Step 4: for each candidate token that is NOT a
//   single-token breaker: logit -= multiplier * base^(n - allowed_length), exponent clamped to
//   floor(88.7228391 / ln(base)) when base > 1.000001.
// - HF RepetitionPenaltyLogitsProcessor (HS): tokens = every id in input_ids (prompt + generated;
//   optional prompt_ignore_length slices off the prompt); gather scores at those ids, where
//   score < 0 multiply by penalty else divide, scatter back. Duplicate ids gather the same
//   original score, so the penalty applies once per distinct id. (HS also has an opt-in
//   `normalize` mode: log_softmax first, then always multiply; not tested in HT.)
// - HF EncoderRepetitionPenaltyLogitsProcessor: same with 1/penalty over encoder_input_ids
//   (rewards prompt tokens when penalty > 1).
// - HF NoRepeatNGramLogitsProcessor: n-grams over the whole input_ids; if len < n nothing;
//   otherwise ban (-inf) every token t such that (last n-1 tokens, t) already occurs as a
//   complete n-gram in input_ids.
// - HF EncoderNoRepeatNGram: same, but the n-grams come from encoder_input_ids; hypothesis row
//   h uses encoder row floor(h / num_beams).
// - HF SequenceBiasLogitsProcessor: length-1 sequences always add their bias; a longer sequence
//   adds its bias to its last token when len(seq) <= len(input_ids) and the last len-1 input
//   ids equal seq[:-1]; biases on the same token accumulate.
// - HF NoBadWordsLogitsProcessor: SequenceBias with bias -inf for each bad sequence, after
//   dropping any bad sequence that is exactly [eos] for an eos id.
// - HF MinLength: if len(input_ids) < min_length, every eos id gets -inf.
//   MinNewTokensLength: if len(input_ids) - prompt_length_to_skip < min_new_tokens, same.
// - HF SuppressTokensLogitsProcessor has no test in HT (at these commits it is only exercised
//   through Whisper tests), so there is no table for it.

// ---------------------------------------------------------------- llama.cpp

export interface LlamaPenaltyCase {
  source: string;
  /** input probabilities; the test sets logit_i = logf(probs[i]) */
  probs: number[];
  /** tokens accept()ed in order */
  history: number[];
  /** penalty_last_n; the test passes history.length */
  lastN: number;
  repeat: number;
  freq: number;
  presence: number;
  /** probabilities after penalties + dist softmax, token-id order, normalised */
  expected: number[];
  expectedKind: 'probs';
  /** absolute, per element */
  tolerance: number;
  note?: string;
}

const LT = 'ggml-org/llama.cpp@f0817df540977d3e3bd9038e7e108fa4f3b4bbde tests/test-sampling.cpp main()';
const P5 = [0.2, 0.2, 0.2, 0.2, 0.2];

export const LLAMA_PENALTIES: LlamaPenaltyCase[] = [
  {
    source: `${LT}, test_penalties #1`,
    probs: P5,
    history: [0],
    lastN: 1,
    repeat: 50,
    freq: 0,
    presence: 0,
    expected: [0, 0.25, 0.25, 0.25, 0.25],
    expectedKind: 'probs',
    tolerance: 1e-5,
    note: 'log(0.2) < 0 so it is multiplied by 50; p0 ~ 1.4e-35, not removed',
  },
  {
    source: `${LT}, test_penalties #2`,
    probs: P5,
    history: [0, 1, 2],
    lastN: 3,
    repeat: 50,
    freq: 0,
    presence: 0,
    expected: [0, 0, 0, 0.5, 0.5],
    expectedKind: 'probs',
    tolerance: 1e-5,
  },
  {
    source: `${LT}, test_penalties #3`,
    probs: P5,
    history: [0, 1, 2, 0, 0],
    lastN: 5,
    repeat: 50,
    freq: 0,
    presence: 0,
    expected: [0, 0, 0, 0.5, 0.5],
    expectedKind: 'probs',
    tolerance: 1e-5,
    note: 'repeat penalty is applied once regardless of count',
  },
  {
    source: `${LT}, test_penalties #4`,
    probs: P5,
    history: [0],
    lastN: 1,
    repeat: 1,
    freq: 5,
    presence: 5,
    expected: [0.000011, 0.249997, 0.249997, 0.249997, 0.249997],
    expectedKind: 'probs',
    tolerance: 1e-5,
    note: 'token 0: logit -= 1*5 + 5',
  },
  {
    source: `${LT}, test_penalties #5`,
    probs: P5,
    history: [0, 1, 2],
    lastN: 3,
    repeat: 1,
    freq: 5,
    presence: 5,
    expected: [0.000023, 0.000023, 0.000023, 0.499966, 0.499966],
    expectedKind: 'probs',
    tolerance: 1e-5,
  },
  {
    source: `${LT}, test_penalties #6`,
    probs: P5,
    history: [0, 1, 2, 0, 0],
    lastN: 5,
    repeat: 1,
    freq: 5,
    presence: 5,
    expected: [0.0, 0.000023, 0.000023, 0.499977, 0.499977],
    expectedKind: 'probs',
    tolerance: 1e-5,
    note: 'token 0 count 3: logit -= 3*5 + 5 (float64 p0 ~ 1.03e-9)',
  },
];

export interface LlamaDryCase {
  source: string;
  probs: number[];
  history: number[];
  multiplier: number;
  base: number;
  allowedLength: number;
  /** dry_penalty_last_n */
  lastN: number;
  /** context_size passed to llama_sampler_init_dry_testing */
  contextSize: number;
  /** token-level breakers: head = first token, tail = the rest */
  sequenceBreakers: number[][];
  expected: number[];
  expectedKind: 'probs';
  tolerance: number;
  /** derived (not in the test): token -> amount subtracted from its logit */
  derivedLogitPenalty: Record<number, number>;
  note?: string;
}

const P4 = [0.25, 0.25, 0.25, 0.25];

export const LLAMA_DRY: LlamaDryCase[] = [
  {
    source: `${LT}, test_dry #1`,
    probs: P4,
    history: [0, 1],
    multiplier: 1.0,
    base: 1.1,
    allowedLength: 2,
    lastN: 4,
    contextSize: 1024,
    sequenceBreakers: [],
    expected: [0.25, 0.25, 0.25, 0.25],
    expectedKind: 'probs',
    tolerance: 1e-5,
    derivedLogitPenalty: {},
    note: 'window = min(2 accepted, 4) = 2 <= allowed_length 2: early return',
  },
  {
    source: `${LT}, test_dry #2`,
    probs: P4,
    history: [0, 1, 2, 0, 1],
    multiplier: 1.0,
    base: 1.1,
    allowedLength: 2,
    lastN: 5,
    contextSize: 1024,
    sequenceBreakers: [],
    expected: [0.296923, 0.296923, 0.109232, 0.296923],
    expectedKind: 'probs',
    tolerance: 1e-5,
    derivedLogitPenalty: { 2: 1.0 },
    note: 'suffix [0,1] occurred before, followed by 2: len 2, penalty 1*1.1^0',
  },
  {
    source: `${LT}, test_dry #3`,
    probs: P5,
    history: [0, 1, 3, 4, 0, 1],
    multiplier: 1.0,
    base: 1.1,
    allowedLength: 2,
    lastN: 6,
    contextSize: 1024,
    sequenceBreakers: [[3]],
    expected: [0.2, 0.2, 0.2, 0.2, 0.2],
    expectedKind: 'probs',
    tolerance: 1e-5,
    derivedLogitPenalty: {},
    note: 'candidate is token 3 (after earlier [0,1]) with len 2, but 3 is a single-token breaker so it is exempt; the breaker 3 tokens back also sets rep_limit = 3',
  },
  {
    source: `${LT}, test_dry #4`,
    probs: P5,
    history: [0, 1, 2, 0, 1],
    multiplier: 2.0,
    base: 1.1,
    allowedLength: 2,
    lastN: 5,
    contextSize: 1024,
    sequenceBreakers: [],
    expected: [0.241818, 0.241818, 0.032727, 0.241818, 0.241818],
    expectedKind: 'probs',
    tolerance: 1e-5,
    derivedLogitPenalty: { 2: 2.0 },
  },
  {
    source: `${LT}, test_dry #5`,
    probs: P5,
    history: [0, 1, 2, 3, 4, 0, 1],
    multiplier: 1.0,
    base: 1.1,
    allowedLength: 4,
    lastN: 7,
    contextSize: 1024,
    sequenceBreakers: [],
    expected: [0.2, 0.2, 0.2, 0.2, 0.2],
    expectedKind: 'probs',
    tolerance: 1e-5,
    derivedLogitPenalty: {},
    note: 'repeat len 2 < allowed_length 4: no penalty',
  },
];

// ---------------------------------------------------------------- transformers

const HT = 'huggingface/transformers@5ea83b0e4bed678bda24e6a1512b7afae30f359a tests/generation/test_logits_process.py';

/** Scores are float32 in the test; assertAlmostEqual = 7 decimal places. */
export interface HfRepetitionCase {
  source: string;
  penalty: number;
  /** one batch row of input_ids (for the encoder variant, also encoder_input_ids of that row) */
  inputIds: number[];
  scores: number[];
  /** full row after the processor; positions outside assertedIndices are derived (unchanged) */
  expected: number[];
  assertedIndices: number[];
  expectedKind: 'logits';
  tolerance: number;
  note?: string;
}

const U10 = Array<number>(10).fill(0.1);
const withAt = (base: number[], at: Record<number, number>): number[] => base.map((v, i) => at[i] ?? v);

export const HF_REPETITION: HfRepetitionCase[] = [
  {
    source: `${HT} test_repetition_penalty_dist_process, row 0`,
    penalty: 2.0,
    inputIds: [0, 1],
    scores: withAt(U10, { 0: -0.1 }),
    expected: withAt(U10, { 0: -0.2, 1: 0.05 }), // -(1/10)*2, (1/10)/2
    assertedIndices: [0, 1],
    expectedKind: 'logits',
    tolerance: 5e-8,
  },
  {
    source: `${HT} test_repetition_penalty_dist_process, row 1`,
    penalty: 2.0,
    inputIds: [5, 0],
    scores: withAt(U10, { 5: 0.4 }),
    expected: withAt(U10, { 0: 0.05, 5: 0.2 }), // (1/10)/2, (4/10)/2
    assertedIndices: [0, 5],
    expectedKind: 'logits',
    tolerance: 5e-8,
  },
];

/** EncoderRepetitionPenaltyLogitsProcessor(penalty=2.0, encoder_input_ids=input_ids): inverse penalty. */
export const HF_ENCODER_REPETITION: HfRepetitionCase[] = [
  {
    source: `${HT} test_encoder_repetition_penalty_dist_process, row 0`,
    penalty: 2.0,
    inputIds: [0, 1],
    scores: withAt(U10, { 0: -0.1 }),
    expected: withAt(U10, { 0: -0.05, 1: 0.2 }), // -(1/10)/2, (1/10)*2
    assertedIndices: [0, 1, 2],
    expectedKind: 'logits',
    tolerance: 5e-8,
    note: 'index 2 asserted unchanged (0.1)',
  },
  {
    source: `${HT} test_encoder_repetition_penalty_dist_process, row 1`,
    penalty: 2.0,
    inputIds: [5, 0],
    scores: withAt(U10, { 5: 0.4 }),
    expected: withAt(U10, { 0: 0.2, 5: 0.8 }), // (1/10)*2, (4/10)*2
    assertedIndices: [0, 5, 2],
    expectedKind: 'logits',
    tolerance: 5e-8,
    note: 'index 2 asserted unchanged (0.1)',
  },
];

/** Ban tables: scores are uniform 1/vocabSize; the test asserts torch.isinf per position. */
export interface HfBanCase {
  source: string;
  vocabSize: number;
  inputIds: number[];
  /** copied assertion: isinf per vocab position */
  isInfExpected: boolean[];
  /** the same as token ids (-inf positions) */
  bannedExpected: number[];
  note?: string;
}

export interface HfNoRepeatNGramCase extends HfBanCase {
  ngramSize: number;
}

export const HF_NO_REPEAT_NGRAM: HfNoRepeatNGramCase[] = [
  {
    source: `${HT} test_no_repeat_ngram_dist_processor, 2-gram row 0`,
    ngramSize: 2,
    vocabSize: 3,
    inputIds: [1, 1, 2, 1],
    isInfExpected: [false, true, true],
    bannedExpected: [1, 2],
  },
  {
    source: `${HT} test_no_repeat_ngram_dist_processor, 2-gram row 1`,
    ngramSize: 2,
    vocabSize: 3,
    inputIds: [0, 1, 0, 1],
    isInfExpected: [true, false, false],
    bannedExpected: [0],
  },
  {
    source: `${HT} test_no_repeat_ngram_dist_processor, 3-gram row 0`,
    ngramSize: 3,
    vocabSize: 3,
    inputIds: [1, 1, 2, 1],
    isInfExpected: [false, false, false],
    bannedExpected: [],
  },
  {
    source: `${HT} test_no_repeat_ngram_dist_processor, 3-gram row 1`,
    ngramSize: 3,
    vocabSize: 3,
    inputIds: [0, 1, 0, 1],
    isInfExpected: [true, false, false],
    bannedExpected: [0],
  },
];

export interface HfEncoderNoRepeatNGramCase extends HfBanCase {
  ngramSize: number;
  /** encoder row used by this hypothesis (row floor(h / numBeams)) */
  encoderInputIds: number[];
  numBeams: number;
}

export const HF_ENCODER_NO_REPEAT_NGRAM: HfEncoderNoRepeatNGramCase[] = [
  // batch 1, 2 beams, encoder [1,2,1,1]
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, 2-gram beam 0`,
    ngramSize: 2,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [1, 2, 1],
    isInfExpected: [false, true, true],
    bannedExpected: [1, 2],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, 2-gram beam 1`,
    ngramSize: 2,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [8, 0, 2],
    isInfExpected: [false, true, false],
    bannedExpected: [1],
    note: 'history holds id 8 >= vocab; harmless',
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, 3-gram beam 0`,
    ngramSize: 3,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [1, 2, 1],
    isInfExpected: [false, true, false],
    bannedExpected: [1],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, 3-gram beam 1`,
    ngramSize: 3,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [8, 0, 2],
    isInfExpected: [false, false, false],
    bannedExpected: [],
  },
  // batch 2, 2 beams: encoder rows [1,2,1,1] (hyps 0,1) and [0,0,2,1] (hyps 2,3)
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 2-gram hyp 0`,
    ngramSize: 2,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [1, 2, 1],
    isInfExpected: [false, true, true],
    bannedExpected: [1, 2],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 2-gram hyp 1`,
    ngramSize: 2,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [1, 0, 2],
    isInfExpected: [false, true, false],
    bannedExpected: [1],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 2-gram hyp 2`,
    ngramSize: 2,
    numBeams: 2,
    encoderInputIds: [0, 0, 2, 1],
    vocabSize: 3,
    inputIds: [0, 0, 0],
    isInfExpected: [true, false, true],
    bannedExpected: [0, 2],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 2-gram hyp 3`,
    ngramSize: 2,
    numBeams: 2,
    encoderInputIds: [0, 0, 2, 1],
    vocabSize: 3,
    inputIds: [0, 2, 2],
    isInfExpected: [false, true, false],
    bannedExpected: [1],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 3-gram hyp 0`,
    ngramSize: 3,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [1, 2, 1],
    isInfExpected: [false, true, false],
    bannedExpected: [1],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 3-gram hyp 1`,
    ngramSize: 3,
    numBeams: 2,
    encoderInputIds: [1, 2, 1, 1],
    vocabSize: 3,
    inputIds: [1, 0, 2],
    isInfExpected: [false, false, false],
    bannedExpected: [],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 3-gram hyp 2`,
    ngramSize: 3,
    numBeams: 2,
    encoderInputIds: [0, 0, 2, 1],
    vocabSize: 3,
    inputIds: [0, 0, 0],
    isInfExpected: [false, false, true],
    bannedExpected: [2],
  },
  {
    source: `${HT} test_encoder_no_repeat_ngram_dist_processor, batched 3-gram hyp 3`,
    ngramSize: 3,
    numBeams: 2,
    encoderInputIds: [0, 0, 2, 1],
    vocabSize: 3,
    inputIds: [0, 2, 2],
    isInfExpected: [false, false, false],
    bannedExpected: [],
  },
];

export interface HfBadWordsCase extends HfBanCase {
  badWordsIds: number[][];
  eosTokenId: number;
  /** true when the test asserts the scores are unchanged (allclose, atol 1e-3) */
  unchanged?: boolean;
}

const BAD = [[1], [4], [1, 0], [0, 1, 2], [1, 3, 1, 3]];

export const HF_BAD_WORDS: HfBadWordsCase[] = [
  {
    source: `${HT} test_no_bad_words_dist_processor, row 0`,
    badWordsIds: BAD,
    eosTokenId: 4,
    vocabSize: 5,
    inputIds: [0, 1, 3, 1],
    isInfExpected: [true, true, false, true, false],
    bannedExpected: [0, 1, 3],
    note: '[4] is dropped because it equals [eos]',
  },
  {
    source: `${HT} test_no_bad_words_dist_processor, row 1`,
    badWordsIds: BAD,
    eosTokenId: 4,
    vocabSize: 5,
    inputIds: [0, 1, 0, 1],
    isInfExpected: [true, true, true, false, false],
    bannedExpected: [0, 1, 2],
  },
  {
    source: `${HT} test_no_bad_words_dist_processor, edge case row 0`,
    badWordsIds: [[4]],
    eosTokenId: 4,
    vocabSize: 5,
    inputIds: [0, 1, 3, 1],
    isInfExpected: [false, false, false, false, false],
    bannedExpected: [],
    unchanged: true,
  },
  {
    source: `${HT} test_no_bad_words_dist_processor, edge case row 1`,
    badWordsIds: [[4]],
    eosTokenId: 4,
    vocabSize: 5,
    inputIds: [0, 1, 0, 1],
    isInfExpected: [false, false, false, false, false],
    bannedExpected: [],
    unchanged: true,
  },
];

export interface HfSequenceBiasCase {
  source: string;
  /** [sequence, bias] pairs (the test's dict, in insertion order) */
  sequenceBias: Array<[number[], number]>;
  inputIds: number[];
  /** the test uses zeros so the output equals the bias */
  scores: number[];
  expected: number[];
  expectedKind: 'logits';
  note?: string;
}

const SEQ_BIAS: Array<[number[], number]> = [
  [[1], 100.0],
  [[4], 100.0],
  [[1, 0], -100.0],
  [[0, 1, 2], -100.0],
  [[1, 3, 1, 3], -100.0],
  [[1, 3, 1, 3, 1, 3], -100.0],
];

export const HF_SEQUENCE_BIAS: HfSequenceBiasCase[] = [
  {
    source: `${HT} test_bias_dist_processor, row 0`,
    sequenceBias: SEQ_BIAS,
    inputIds: [0, 1, 3, 1],
    scores: [0, 0, 0, 0, 0],
    expected: [-100.0, 100.0, 0.0, -100.0, 100.0],
    expectedKind: 'logits',
    note: 'length-6 sequence is longer than the 4-token context: skipped',
  },
  {
    source: `${HT} test_bias_dist_processor, row 1`,
    sequenceBias: SEQ_BIAS,
    inputIds: [0, 1, 0, 1],
    scores: [0, 0, 0, 0, 0],
    expected: [-100.0, 100.0, -100.0, 0.0, 100.0],
    expectedKind: 'logits',
  },
];

export interface HfMinLengthCase {
  source: string;
  processor: 'min_length' | 'min_new_tokens';
  minLength?: number;
  promptLengthToSkip?: number;
  minNewTokens?: number;
  eosTokenIds: number[];
  vocabSize: number;
  /** input_ids are random (ids_tensor); only the length matters */
  inputLength: number;
  /** eos ids asserted to be -inf; [] means the test asserts no -inf anywhere */
  bannedExpected: number[];
  note?: string;
}

const minNew = (eos: number[], suffix: string): HfMinLengthCase[] =>
  (
    [
      [5, true],
      [2, true],
      [6, true],
      [7, true],
      [8, false],
      [15, false],
    ] as const
  ).map(([len, banned]) => ({
    source: `${HT} test_new_min_length_dist_processor${suffix}, length ${len}`,
    processor: 'min_new_tokens' as const,
    promptLengthToSkip: 5,
    minNewTokens: 3,
    eosTokenIds: eos,
    vocabSize: 20,
    inputLength: len,
    bannedExpected: banned ? eos : [],
    note: `new tokens = ${len} - 5 = ${len - 5}`,
  }));

export const HF_MIN_LENGTH: HfMinLengthCase[] = [
  {
    source: `${HT} test_min_length_dist_processor, length 5`,
    processor: 'min_length',
    minLength: 10,
    eosTokenIds: [0],
    vocabSize: 20,
    inputLength: 5,
    bannedExpected: [0],
  },
  {
    source: `${HT} test_min_length_dist_processor, length 15`,
    processor: 'min_length',
    minLength: 10,
    eosTokenIds: [0],
    vocabSize: 20,
    inputLength: 15,
    bannedExpected: [],
  },
  ...minNew([0], ' (eos 0)'),
  ...minNew([0, 18], ' (eos [0, 18])'),
];
