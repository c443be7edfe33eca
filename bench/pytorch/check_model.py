"""
Numerics check of lcmd_model.py against lcmd: the same checkpoint, the same inputs, the same outputs.

    python3 bench/pytorch/check_model.py MANIFEST.json [--out report.json]

bench/cpu-vs-pytorch.ts (its setup step) writes the manifest and, for each case, what lcmd computed:
  - forward: logits of Model.forward for fixed noisy z, t (0 and 1 included) and classes (the null class included),
    with the online and the EMA weights. Compared, per example: max |logits_pt - logits_lcmd| / max |logits_lcmd|,
    at most 1e-4 for every example.
  - step: the StepResult of one Trainer.step after resuming the checkpoint, and some parameters after it. PyTorch
    takes the same step with the same noise: lcmd draws a step's noise from counter-based streams (keyed by seed,
    step, example and purpose; native/core/noise/counter_noise_math.h), reproduced below with numpy. Compared: every
    loss term and the gradient norm (relative, <= 1e-4), the accuracy, and the parameters after the update.
  - sample: the final probabilities and tokens of a DDIM (guided) and an ancestral run with the same seed, whose
    initial and ancestral noise are reproduced the same way. Compared: max |p_pt - p_lcmd| and the share of equal tokens.
Prints one line per comparison and exits 1 when one is out of tolerance.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lcmd_model import Checkpoint, LcmdTrainer, load_model, sample  # noqa: E402

LOGITS_TOL = 1e-4  # relative, for the logits and every loss term
PROBS_TOL = 1e-3   # absolute, for the sampler's final probabilities after 8 to 10 steps of accumulated rounding
TOKENS_MIN = 0.99  # share of equal tokens after sampling (an argmax may flip where two tokens nearly tie)

# ----------------------------------------------------------------------------------------------------------------
# lcmd's counter-based noise, in numpy uint64 arithmetic (wrapping, as in C).

U64 = np.uint64


def mix64(x):
    """SplitMix64's finaliser."""
    with np.errstate(over='ignore'):
        x = np.asarray(x, dtype=U64) + U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> U64(27))) * U64(0x94D049BB133111EB)
        return x ^ (x >> U64(31))


def uniforms_from_bits(bits):
    """(k + 0.5) 2^-23 from the 23 high bits: in (0, 1), exact in float32."""
    return ((bits >> U64(41)).astype(np.float32) + np.float32(0.5)) * np.float32(1.0 / 8388608.0)


def counter_uniform(keys, m):
    """[R] stream keys -> [R, m] float32: element i of stream k is uniform(mix64(k ^ mix64(i)))."""
    index = mix64(np.arange(m, dtype=U64))
    return uniforms_from_bits(mix64(np.asarray(keys, dtype=U64)[:, None] ^ index[None, :]))


def counter_normal(keys, m):
    """Box-Muller from elements 2i and 2i + 1 of each stream, in float32."""
    u = counter_uniform(keys, 2 * m)
    u1, u2 = u[:, 0::2], u[:, 1::2]
    return np.sqrt(np.float32(-2.0) * np.log(u1)) * np.cos(np.float32(6.283185307179586) * u2)


def example_keys(seed, a, first, count, purpose):
    """stream_key(seed, a, example, purpose) for examples first .. first + count - 1."""
    with np.errstate(over='ignore'):
        b = np.arange(first, first + count, dtype=U64)
        inner = mix64(mix64(U64(seed) ^ U64(0x6C636D64)) ^ U64(a))
        return mix64(inner ^ (b * U64(0x9E3779B97F4A7C15))) ^ mix64(U64(purpose) + U64(0x1234567))


def training_noise(seed, step, offset, batch, tokens, dim):
    """The noise of Trainer.step number `step` (purposes: t, s, eps_t, eps_0, drop, ratio, class, -, self-cond)."""
    def keys(purpose):
        return example_keys(seed, step, offset, batch, purpose)
    t = counter_uniform(keys(1), 1)[:, 0]
    as_torch = torch.from_numpy
    return {
        't': as_torch(t),
        's': as_torch(t * counter_uniform(keys(2), 1)[:, 0]),
        'eps_t': as_torch(counter_normal(keys(3), tokens * dim).reshape(batch, tokens, dim)),
        'eps_0': as_torch(counter_normal(keys(4), tokens * dim).reshape(batch, tokens, dim)),
        'drop': as_torch(counter_uniform(keys(5), tokens)),
        'ratio': as_torch(counter_uniform(keys(6), 1)[:, 0]),
        'class': as_torch(counter_uniform(keys(7), 1)[:, 0]),
        'self_cond': as_torch(counter_uniform(keys(9), 1)[:, 0]),
    }


def sampling_noise(seed, n, tokens, dim):
    """The sampler's streams: kind 0 (z_1, at grid index T) and kind 2 (the ancestral draw leaving grid index j)."""
    kinds = {'initial': 0, 'ancestral': 2}

    def noise(kind, j):
        keys = example_keys(seed, j, 0, n, 0x53414D504C450000 + kinds[kind])
        return torch.from_numpy(counter_normal(keys, tokens * dim).reshape(n, tokens, dim))
    return noise


# ----------------------------------------------------------------------------------------------------------------

def relative(ours, theirs):
    """max |ours - theirs| / max |theirs|: the error on the scale of the values (elementwise ratios blow up near 0)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = np.abs(theirs).max()
    return float(np.abs(ours - theirs).max() / scale) if scale > 0 else float(np.abs(ours).max())


def relative_per_example(ours, theirs):
    """The largest relative() over the examples (the first axis): at t = 0 the exact-likelihood term makes the
    logits ~1e6, which would hide the error of the other examples on the scale of the whole batch."""
    return max(relative(o, t) for o, t in zip(ours, theirs))


def long_tensor(path):
    return torch.from_numpy(np.load(path).astype(np.int64))


def float_tensor(path):
    return torch.from_numpy(np.load(path).astype(np.float32))


def check_case(case, lines):
    name = case['name']
    ck = Checkpoint(case['checkpoint'])
    mc = ck.model_config
    n_tokens, dim = mc['height'] * mc['width'], mc['embedDim']
    out = {'name': name}

    f = case['forward']
    z, t = float_tensor(f['z']), float_tensor(f['t'])
    classes = long_tensor(f['classes']) if f.get('classes') else None
    out['forward'] = {}
    for group, path in f['logits'].items():
        with torch.no_grad():
            ours = load_model(ck, group)(z, t, classes).numpy()
        theirs = np.load(path)
        err = relative_per_example(ours, theirs)
        out['forward'][group] = {'maxRelativeError': err, 'batchRelativeError': relative(ours, theirs),
                                 'ok': err <= LOGITS_TOL}
        times = ', '.join(f'{v:g}' for v in t.tolist())
        lines.append(f'{name}: logits ({group} weights, {tuple(ours.shape)}, t = {times}): max rel error {err:.2e}')

    s = case.get('step')
    if s:
        tokens = long_tensor(s['tokens'])
        labels = long_tensor(s['labels']) if s.get('labels') else None
        trainer = LcmdTrainer(ck)
        noise = training_noise(int(ck.train_config['seed']), ck.state['steps'], s.get('exampleOffset', 0),
                               tokens.shape[0], n_tokens, dim)
        ours = trainer.step(tokens, labels, noise)
        theirs = s['result']
        terms = {}
        for key in ('loss', 'recon', 'ce', 'diff', 'cm', 'prior', 'gradNorm'):
            if theirs[key] is None:  # NaN in JSON: recon when lambdaRecon = 0 skips it
                terms[key] = {'pytorch': ours[key], 'lcmd': None, 'relativeError': 0.0, 'ok': math.isnan(ours[key])}
                continue
            err = abs(ours[key] - theirs[key]) / max(abs(theirs[key]), 1e-30)
            terms[key] = {'pytorch': ours[key], 'lcmd': theirs[key], 'relativeError': err, 'ok': err <= LOGITS_TOL}
        acc = abs(ours['accuracyT'] - theirs['accuracyT'])
        terms['accuracyT'] = {'pytorch': ours['accuracyT'], 'lcmd': theirs['accuracyT'], 'absoluteError': acc,
                              'ok': acc <= 2.0 / tokens.numel()}  # one or two argmax flips among B N tokens
        worst = max(v['relativeError'] for k, v in terms.items() if k != 'accuracyT')
        values = ', '.join(f'{k} {v["lcmd"]:.6g}' for k, v in terms.items() if v['lcmd'] is not None)
        lines.append(f'{name}: train step loss terms ({values}): max rel error {worst:.2e}, accuracy diff {acc:.2e}')
        params = {}
        nets = {'model': trainer.student, 'ema': trainer.ema}
        for group, files in s['params'].items():
            current = dict(nets[group].named_parameters())
            for pname, path in files.items():
                after = np.load(path)
                before = ck.tensors[f'{group}.{pname}']
                mine = current[pname].detach().numpy()
                params[f'{group}.{pname}'] = {'relativeError': relative(mine, after),
                                              'updateRelativeError': relative(mine - before, after - before)}
        worst_p = max(v['relativeError'] for v in params.values())
        worst_u = max(v['updateRelativeError'] for v in params.values())
        lines.append(f'{name}: parameters after the step ({len(params)}): max rel error {worst_p:.2e}, '
                     f'of the update itself {worst_u:.2e}')
        out['step'] = {'terms': terms, 'parameters': params,
                       'ok': all(v['ok'] for v in terms.values()) and worst_p <= LOGITS_TOL}

    out['sample'] = []
    for run in case.get('sample', []):
        model = load_model(ck, 'ema')
        sc = long_tensor(run['classes']) if run.get('classes') else None
        n = int(np.load(run['tokens']).shape[0])
        tokens, probs = sample(model, n, sc, steps=run['steps'], sampler=run['sampler'], guidance=run['guidance'],
                               noise=sampling_noise(run['seed'], n, n_tokens, dim))
        their_probs = np.load(run['probs']).reshape(probs.shape)
        their_tokens = np.load(run['tokens']).reshape(tokens.shape)
        diff = float(np.abs(probs.numpy() - their_probs).max())
        same = float((tokens.numpy() == their_tokens).mean())
        label = f"{run['sampler']}-{run['steps']} w={run['guidance']}"
        out['sample'].append({'run': label, 'probsMaxAbsError': diff, 'sameTokens': same,
                              'ok': diff <= PROBS_TOL and same >= TOKENS_MIN})
        lines.append(f'{name}: {label}, {n} samples: final probs max abs error {diff:.2e}, same tokens {same:.4f}')
    return out


def json_safe(value):
    """NaN (a skipped term) as null, since JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith('-'):
        sys.exit(__doc__)
    with open(args[0]) as f:
        manifest = json.load(f)
    torch.set_num_threads(1)  # speed does not matter here: leave the other cores alone
    lines = []
    cases = [check_case(case, lines) for case in manifest['cases']]
    oks = [v['ok'] for c in cases for v in c['forward'].values()]
    oks += [c['step']['ok'] for c in cases if 'step' in c]
    oks += [r['ok'] for c in cases for r in c['sample']]
    report = {'ok': all(oks), 'tolerances': {'logits': LOGITS_TOL, 'probs': PROBS_TOL, 'tokens': TOKENS_MIN},
              'torchVersion': torch.__version__, 'cases': cases}
    for line in lines:
        print(line)
    print('numerics check:', 'ok' if report['ok'] else 'FAILED')
    if '--out' in args:
        with open(args[args.index('--out') + 1], 'w') as f:
            json.dump(json_safe(report), f, indent=2, allow_nan=False)
    sys.exit(0 if report['ok'] else 1)


if __name__ == '__main__':
    main()
