// CSDM-dagger: a tokenizer codebook becomes the embedding table of the model, the sampling EMA and the teacher, and
// with freezeEmbeddings it stays exactly there through training.
import { Tensor } from '../lib/tensor';
import { Trainer } from '../lib/trainer';
import { errorCode, int64Tensor, randomTokens, TINY_MODEL } from './lcmd-fixtures';

const K = TINY_MODEL.vocabSize!;
const D = TINY_MODEL.embedDim!;

function codebook(): Float32Array {
  return Float32Array.from({ length: K * D }, (_, i) => Math.sin(1.7 * i + 0.3) * 2);
}

function table(trainer: Trainer, useEma: boolean): Float32Array {
  const t = trainer.model.getParameter('embedding.table', useEma);
  const values = t.toTypedArray() as Float32Array;
  t.dispose();
  return values;
}

describe('loading a tokenizer codebook into the embedding table', () => {
  test('model and EMA tables equal the codebook, and a frozen table stays equal after training steps', async () => {
    const trainer = Trainer.create({ model: { ...TINY_MODEL, freezeEmbeddings: true }, train: { seed: 1, teacher: 'ema', warmupSteps: 0, lr: 0.05 } });
    const values = codebook();
    const before = table(trainer, false);
    expect(before).not.toEqual(values); // the random initial table differs, so the copy is what makes them equal
    const book = Tensor.from(values, [K, D]);
    trainer.loadCodebook(book);
    book.dispose();
    expect(table(trainer, false)).toEqual(values);
    expect(table(trainer, true)).toEqual(values);
    for (let k = 0; k < 3; k++) {
      const tokens = int64Tensor(randomTokens(10 + k, 4, 4, K).flat(), [4, 4]);
      const labels = int64Tensor([0, 1, 2, 0], [4]);
      const r = await trainer.step({ tokens, labels });
      tokens.dispose();
      labels.dispose();
      expect(r.skipped).toBe(false);
    }
    expect(table(trainer, false)).toEqual(values);
    expect(table(trainer, true)).toEqual(values);
    // a late load would leave the optimizer and EMAs behind
    const late = Tensor.from(values, [K, D]);
    expect(await errorCode(() => trainer.loadCodebook(late))).toBe('E_CONFIG');
    late.dispose();
    trainer.dispose();
  });

  test('a codebook of the wrong shape or dtype is refused', async () => {
    const trainer = Trainer.create({ model: { ...TINY_MODEL, freezeEmbeddings: true } });
    const narrow = Tensor.from(new Float32Array(K * (D - 1)), [K, D - 1]);
    const ints = Tensor.from(new Int32Array(K * D), [K, D]);
    expect(await errorCode(() => trainer.loadCodebook(narrow))).toBe('E_SHAPE');
    expect(await errorCode(() => trainer.loadCodebook(ints))).toBe('E_DTYPE');
    expect(await errorCode(() => trainer.loadCodebook(codebook() as never))).toBe('E_TYPE');
    narrow.dispose();
    ints.dispose();
    trainer.dispose();
  });
});
