// Presets: parameter counts against an independent count from the architecture of docs/method.md section 5, and the paper's sizes.
import type { ModelConfig } from '../lib/config';
import { LcmdError } from '../lib/errors';
import { Model } from '../lib/model';
import { Trainer } from '../lib/trainer';
import { freezesCodebookEmbeddings, PRESETS, resolveConfig } from '../lib/presets';

/** Parameters of the docs/method.md section 5 network, counted layer by layer from the config. */
function expectedCount(c: ModelConfig): number {
  const linear = (inputs: number, outputs: number) => inputs * outputs + outputs;
  const h = c.hidden;
  const embeddings = c.vocabSize * c.embedDim + c.embedDim; // table and [mask]
  const input = linear(c.selfCondition ? 2 * c.embedDim : c.embedDim, h); // self-conditioning also reads e_hat
  const time = 2 * linear(c.condDim, c.condDim);
  const classes = c.numClasses > 0 ? (c.numClasses + 1) * c.condDim : 0; // with the null class
  const block = 2 * linear(c.condDim, 2 * h) + linear(h, 3 * h) + linear(h, h) + linear(h, c.mlpRatio * h) + linear(c.mlpRatio * h, h);
  const output = 2 * h + linear(h, c.vocabSize); // final LayerNorm and head
  return embeddings + input + time + classes + c.layers * block + output;
}

function created(preset: string): { count: number; config: ModelConfig } {
  const model = Model.create(preset);
  const result = { count: model.parameterCount, config: model.config };
  model.dispose();
  return result;
}

describe('presets', () => {
  test('paper-uncond is about 56M parameters (within 10%) and matches the layer-by-layer count', () => {
    const { count, config } = created('paper-uncond');
    expect(config).toMatchObject({ layers: 15, heads: 8, hidden: 512, numClasses: 0 });
    expect(count).toBe(expectedCount(config));
    expect(Math.abs(count - 56e6) / 56e6).toBeLessThan(0.1);
  });

  test('paper-imagenet is about 246M parameters (within 10%) and matches the layer-by-layer count', () => {
    const { count, config } = created('paper-imagenet');
    expect(config).toMatchObject({ layers: 24, heads: 16, hidden: 768, numClasses: 1000 });
    expect(count).toBe(expectedCount(config));
    expect(Math.abs(count - 246e6) / 246e6).toBeLessThan(0.1);
  });

  test('small and paper-small are under 5M parameters', () => {
    for (const preset of ['small', 'cm-small', 'cm-data-small', 'paper-small', 'maskgit-small']) {
      const { count, config } = created(preset);
      expect(count).toBe(expectedCount(config));
      expect(count).toBeLessThan(5e6);
      expect(config.heads).toBe(4);
      expect(config.hidden).toBeGreaterThanOrEqual(128);
      expect(config.hidden).toBeLessThanOrEqual(256);
    }
  });

  test('paper presets train with the paper weights (lambda_CM = 1, lambda_diff = 0.005)', () => {
    for (const preset of ['paper-uncond', 'paper-imagenet', 'paper-small']) {
      expect(PRESETS[preset].train).toMatchObject({ lambdaCm: 1, lambdaDiff: 0.005 });
    }
  });

  test('a codebook start freezes the table where the preset says so, and an explicit freezeEmbeddings wins', () => {
    const frozen = Object.keys(PRESETS).filter((name) => PRESETS[name].embeddingsFromCodebook === 'frozen');
    expect(frozen).toContain('small');
    for (const name of Object.keys(PRESETS)) {
      expect(freezesCodebookEmbeddings(name, undefined)).toBe(frozen.includes(name));
      expect(freezesCodebookEmbeddings(name, false)).toBe(false);
      expect(freezesCodebookEmbeddings(name, true)).toBe(true);
    }
    expect(freezesCodebookEmbeddings(undefined, undefined)).toBe(false);
    expect(freezesCodebookEmbeddings('no-such-preset', undefined)).toBe(false);
  });

  test('overrides apply on top of a preset, and unknown presets or keys are E_CONFIG', () => {
    const model = Model.create({ preset: 'cm-data-small', model: { layers: 1, hidden: 32, heads: 2, condDim: 16 } });
    expect(model.config).toMatchObject({ layers: 1, hidden: 32, heads: 2, vocabSize: PRESETS['cm-data-small'].model.vocabSize });
    expect(model.parameterCount).toBe(expectedCount(model.config));
    model.dispose();
    expect(resolveConfig({ preset: 'cm-data-small', ablation: 'no-cm' }).train.lambdaCm).toBe(0);
    const badConfigs = [
      () => Model.create('no-such-preset'),
      () => Model.create({ model: { layerz: 3 } as Partial<ModelConfig> }),
      // diffusion-only options on the MaskGIT baseline
      () => Model.create({ preset: 'maskgit-small', model: { exactLikelihoodLogits: true } }),
    ];
    for (const bad of badConfigs) {
      let error: unknown;
      try {
        bad();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(LcmdError);
      expect((error as LcmdError).code).toBe('E_CONFIG');
    }
    // exact-likelihood logits with dropping now work: the dropped positions get no exact term
    Trainer.create({ preset: 'cm-data-small', train: { dropRate: 0.2 } }).dispose();
  });
});
