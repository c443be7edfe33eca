"""
The VQ-LCMD network, its training objective and its samplers, in plain eager PyTorch: the model a user would write,
loaded from an lcmd checkpoint. The benchmarks compare lcmd with it (bench/cpu-vs-pytorch.ts through time_model.py on
the CPU; pass device='cuda' for the GPU), and check_model.py checks that it computes what lcmd computes.

The math follows docs/method.md and docs/tensor-names.md:
  - schedule: variance preserving, lambda(t) = -2 log tan(pi u / 2) + 2 log s, u = t_min + t (t_max - t_min), the
    unshifted log-SNR clipped to [-maxLogsnr, maxLogsnr]; alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda);
  - network: z [B, N, d] (and the previous prediction when self-conditioning) -> in_proj + sinusoidal positions ->
    AdaLN Transformer blocks conditioned on y = MLP(sinusoidal(lambda)) + class embedding (row C = null class) ->
    LayerNorm -> logits over K, plus, with exactLikelihoodLogits, log N(z; alpha e_k, sigma^2 I) up to a constant;
    with posteriorInput the input also holds softmax_k of that log-likelihood times the table posterior_in [K, hidden];
  - objective 'lcmd': L_recon at t = 0 + lambda_CM KL(teacher at s after one DDIM step || student at t)
    + lambda_diff ||e_x - e_hat||^2 (+ lambda_CE CE at t), with token dropping, class dropout, EMA teacher, AdamW;
  - samplers: DDIM and ancestral on the uniform grid t_j = j / T, classifier-free guidance
    (1 + w) logits(z, c) - w logits(z, null), argmax at t = 0.

Not covered: models of method 'maskgit', the 'vlb' objective, infilling, the consistency sampler, shifted time grids.
Needs numpy and torch only (the checkpoint is read without the safetensors package).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------------------
# Checkpoint files: 8-byte little-endian header length, a JSON header, then the raw little-endian tensor data.

_NP_DTYPES = {'F64': np.float64, 'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32,
              'I16': np.int16, 'I8': np.int8, 'U8': np.uint8, 'BOOL': np.bool_}


def read_safetensors(path):
    """Returns ({name: numpy array}, {metadata key: string})."""
    with open(path, 'rb') as f:
        data = f.read()
    (header_len,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + header_len])
    metadata = header.pop('__metadata__', {}) or {}
    base = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if entry['dtype'] not in _NP_DTYPES:
            raise ValueError(f'{path}: tensor {name} has dtype {entry["dtype"]}, which this reader does not handle')
        dtype = np.dtype(_NP_DTYPES[entry['dtype']]).newbyteorder('<')
        begin, end = entry['data_offsets']
        array = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=base + begin)
        tensors[name] = array.reshape(entry['shape'])
    return tensors, metadata


class Checkpoint:
    """An lcmd training checkpoint: tensors by name ('model.*', 'ema.*', 'teacher.*', 'optim.*'), configs, counters."""

    def __init__(self, path):
        self.path = path
        self.tensors, self.metadata = read_safetensors(path)
        if self.metadata.get('lcmd.format') != 'lcmd-checkpoint/1':
            raise ValueError(f'{path} is not an lcmd training checkpoint (lcmd.format is {self.metadata.get("lcmd.format")!r})')
        self.model_config = json.loads(self.metadata['lcmd.model'])
        self.train_config = json.loads(self.metadata['lcmd.train'])
        self.state = json.loads(self.metadata['lcmd.state'])

    def group(self, prefix):
        """The tensors of one group ('model', 'ema', 'teacher', 'optim.exp_avg', ...) without the prefix, as torch tensors."""
        p = prefix + '.'
        # copy: np.frombuffer views are read-only, and torch wants writable memory
        return {k[len(p):]: torch.from_numpy(np.array(v)) for k, v in self.tensors.items() if k.startswith(p)}


# ----------------------------------------------------------------------------------------------------------------
# Noise schedule. Computed in float64: in float32 the ends of [0, 1] lose their precision.

class NoiseSchedule:
    def __init__(self, shift, max_logsnr):
        self.shift = shift
        # u at which the unshifted cosine log-SNR -2 log tan(pi u / 2) is +max_logsnr (t = 0) and -max_logsnr (t = 1)
        self.t_min = 2 / math.pi * math.atan(math.exp(-max_logsnr / 2))
        self.t_max = 2 / math.pi * math.atan(math.exp(max_logsnr / 2))

    def logsnr(self, t):
        """lambda(t) for a tensor t, as float64."""
        u = self.t_min + t.double() * (self.t_max - self.t_min)
        x = u * (math.pi / 2)
        # -2 log tan(x) as 2 (log cos x - log sin x): precise near both ends
        return 2 * (torch.log(torch.cos(x)) - torch.log(torch.sin(x))) + 2 * math.log(self.shift)

    def alpha(self, t):
        return torch.sigmoid(self.logsnr(t)).sqrt()

    def sigma(self, t):
        return torch.sigmoid(-self.logsnr(t)).sqrt()

    def alpha_sigma(self, t):
        """(alpha, sigma) at one time t, as Python floats."""
        lam = self.logsnr(torch.tensor([float(t)], dtype=torch.float64))
        return torch.sigmoid(lam).sqrt().item(), torch.sigmoid(-lam).sqrt().item()


# ----------------------------------------------------------------------------------------------------------------
# The network. Module and parameter names match the checkpoint's, so load_state_dict(strict=True) checks them all.

def sinusoidal(x, dim, max_period=10000.0):
    """[B] -> [B, dim]: [sin(x f_i), cos(x f_i)] with f_i = max_period^(-i / (dim / 2)), zero-padded to odd dim."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=x.dtype, device=x.device) / half)
    args = x[:, None] * freqs
    features = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    return F.pad(features, (0, dim % 2))


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size, dim, l2_normalize):
        super().__init__()
        self.table = nn.Parameter(torch.randn(vocab_size, dim))  # E [K, d]
        self.mask = nn.Parameter(torch.randn(dim))               # the [mask] vector of dropped positions
        self.l2_normalize = l2_normalize

    def embeddings(self):
        """E as the method uses it: with l2NormalizeEmbeddings every row has norm sqrt(d), the scale of N(0, I) rows."""
        if not self.l2_normalize:
            return self.table
        return F.normalize(self.table, dim=-1, eps=1e-12) * math.sqrt(self.table.shape[1])


class AdaLN(nn.Module):
    """LayerNorm(h) (1 + a(y)) + b(y): the noise level and the class modulate every block."""

    def __init__(self, hidden, cond_dim):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, eps=1e-6, elementwise_affine=False)
        self.modulation = nn.Linear(cond_dim, 2 * hidden)

    def forward(self, h, y_act):
        scale, shift = self.modulation(y_act)[:, None, :].chunk(2, dim=-1)
        return self.norm(h) * (1 + scale) + shift


class SelfAttention(nn.Module):
    """Bidirectional multi-head attention; dropout on the attention weights while training."""

    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x):
        b, n, h = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        if hasattr(F, 'scaled_dot_product_attention'):  # torch >= 2.0: the fused kernels
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:  # torch 1.13 (Debian): the same math spelled out
            weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
            if p > 0:
                weights = F.dropout(weights, p)
            y = weights @ v
        return self.out(y.transpose(1, 2).reshape(b, n, h))


class Block(nn.Module):
    """Pre-norm Transformer block: AdaLN -> attention -> residual, AdaLN -> MLP (exact GELU) -> residual."""

    def __init__(self, hidden, heads, mlp_ratio, cond_dim, attn_dropout):
        super().__init__()
        self.norm1 = AdaLN(hidden, cond_dim)
        self.attn = SelfAttention(hidden, heads, attn_dropout)
        self.norm2 = AdaLN(hidden, cond_dim)
        self.fc1 = nn.Linear(hidden, mlp_ratio * hidden)
        self.fc2 = nn.Linear(mlp_ratio * hidden, hidden)

    def forward(self, h, y_act):
        h = h + self.attn(self.norm1(h, y_act))
        return h + self.fc2(F.gelu(self.fc1(self.norm2(h, y_act))))


class LcmdNet(nn.Module):
    """f_theta(z_t, t, c) -> logits [B, N, K] of p(x | z_t), from an lcmd model config (the JSON of lcmd.model)."""

    def __init__(self, config):
        super().__init__()
        c = config
        if c.get('method', 'lcmd') != 'lcmd':
            raise ValueError(f"only diffusion models (method 'lcmd') are written here, not {c['method']!r}")
        self.config = c
        self.num_classes = c['numClasses']
        self.self_condition = c['selfCondition']
        self.schedule = NoiseSchedule(c['shift'], c['maxLogsnr'])
        d, hidden, cond = c['embedDim'], c['hidden'], c['condDim']
        self.embedding = TokenEmbedding(c['vocabSize'], d, c['l2NormalizeEmbeddings'])
        if c['freezeEmbeddings']:
            self.embedding.requires_grad_(False)
        self.in_proj = nn.Linear(2 * d if self.self_condition else d, hidden)
        if c.get('posteriorInput', False):
            self.posterior_in = nn.Parameter(torch.zeros(c['vocabSize'], hidden))
        # fixed, so not in the checkpoint
        positions = sinusoidal(torch.arange(c['height'] * c['width'], dtype=torch.float32), hidden)
        self.register_buffer('positions', positions, persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(cond, cond), nn.SiLU(), nn.Linear(cond, cond))
        if self.num_classes > 0:
            self.class_embed = nn.Embedding(self.num_classes + 1, cond)  # row C: the null class
        self.blocks = nn.ModuleList(
            Block(hidden, c['heads'], c['mlpRatio'], cond, c['attnDropout']) for _ in range(c['layers']))
        self.final_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.head = nn.Linear(hidden, c['vocabSize'])

    def forward(self, z, t, classes=None, self_cond=None, dropped=None):
        """z [B, N, d] float32; t [B] in [0, 1]; classes [B] int64 in [0, C] or None (null class);
        self_cond [B, N, d] the previous prediction or None (zeros); dropped [B, N] bool: positions holding [mask]."""
        lam = self.schedule.logsnr(t)
        level = lam if self.config['timeInput'] == 'logsnr' else t.double() * 1000.0
        y = self.time_mlp(sinusoidal(level.float(), self.config['condDim']))
        if self.num_classes > 0:
            if classes is None:
                classes = torch.full((z.shape[0],), self.num_classes, dtype=torch.long, device=z.device)
            y = y + self.class_embed(classes)
        y_act = F.silu(y)
        x = z
        if self.self_condition:
            x = torch.cat([z, torch.zeros_like(z) if self_cond is None else self_cond], dim=-1)
        h = self.in_proj(x) + self.positions
        exact = None
        if self.config['exactLikelihoodLogits'] or self.config.get('posteriorInput', False):
            # log N(z_i; alpha e_k, sigma^2 I) up to a constant in k: (alpha / sigma^2) z.e_k - (alpha^2 / 2 sigma^2) |e_k|^2
            alpha_sq, sigma_sq = torch.sigmoid(lam), torch.sigmoid(-lam)
            coef_dot = (alpha_sq.sqrt() / sigma_sq).float()[:, None, None]
            coef_sq = (alpha_sq / (2 * sigma_sq)).float()[:, None, None]
            table = self.embedding.embeddings()
            exact = coef_dot * (z @ table.t()) - coef_sq * table.pow(2).sum(-1)
            if dropped is not None:
                # a dropped position holds the [mask] vector, not a noisy token: no Gaussian term there
                exact = exact.masked_fill(dropped[..., None], 0.0)
        if self.config.get('posteriorInput', False):
            posterior = torch.softmax(exact, dim=-1)
            if dropped is not None:
                posterior = posterior.masked_fill(dropped[..., None], 0.0)
            h = h + posterior @ self.posterior_in
        for block in self.blocks:
            h = block(h, y_act)
        logits = self.head(self.final_norm(h))
        if self.config['exactLikelihoodLogits']:
            # the network only learns a correction to the exact term
            logits = logits + exact
        return logits

    def predicted_embedding(self, logits):
        """e_hat = softmax(logits) E, [B, N, d]."""
        return torch.softmax(logits, dim=-1) @ self.embedding.embeddings()


def load_model(checkpoint, group='ema', device='cpu'):
    """The network with one weight group of a checkpoint ('ema': the sampling EMA, 'model': the online weights,
    'teacher': the CM teacher), in eval mode. `checkpoint` is a path or a Checkpoint."""
    ck = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(checkpoint)
    net = LcmdNet(ck.model_config)
    net.load_state_dict(ck.group(group), strict=True)
    return net.to(device).eval()


# ----------------------------------------------------------------------------------------------------------------
# Training (objective 'lcmd').

def drop_mask(strategy, rate, uniforms, ratio_uniforms, t):
    """Which positions get the [mask] vector: uniforms [B, N], ratio_uniforms [B], t [B] -> bool [B, N]."""
    if rate <= 0:
        return torch.zeros_like(uniforms, dtype=torch.bool)
    if strategy == 'bernoulli':  # each position with probability r
        return uniforms < rate
    if strategy == 'count':  # exactly floor(r N) positions: those with the smallest draws
        count = int(math.floor(rate * uniforms.shape[1]))
        mask = torch.zeros_like(uniforms, dtype=torch.bool)
        if count == 0:
            return mask
        return mask.scatter(1, uniforms.topk(count, dim=1, largest=False).indices, True)
    if strategy == 'random-ratio':  # per-example rate rho ~ U(0, 2r)
        rho = ratio_uniforms * (2 * rate)
    elif strategy == 'linear-t':  # rho = 2 r t
        rho = t * (2 * rate)
    else:
        raise ValueError(f'unknown drop strategy {strategy!r}')
    return uniforms < rho.clamp(max=0.95)[:, None]


def learning_rate(tc, step):
    """Linear warm-up, then constant or cosine."""
    if tc['warmupSteps'] > 0 and step < tc['warmupSteps']:
        return tc['lr'] * (step + 1) / tc['warmupSteps']
    if tc['lrSchedule'] == 'cosine':
        span = max(1.0, tc['totalSteps'] - tc['warmupSteps'])
        progress = min(max((step - tc['warmupSteps']) / span, 0.0), 1.0)
        return tc['lr'] * (tc['minLrRatio'] + (1 - tc['minLrRatio']) * 0.5 * (1 + math.cos(math.pi * progress)))
    return tc['lr']


def ramped(start, end, ramp_steps, step):
    """A loss weight ramping linearly from start to end over ramp_steps (end < 0: no ramp)."""
    if end < 0 or ramp_steps <= 0:
        return start
    return start + min(1.0, step / ramp_steps) * (end - start)


class LcmdTrainer:
    """A training run resumed from an lcmd checkpoint: the student, the sampling EMA, the EMA teacher and AdamW."""

    def __init__(self, checkpoint, device='cpu'):
        ck = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(checkpoint)
        self.mc, self.tc = ck.model_config, ck.train_config
        tc = self.tc
        if tc['objective'] != 'lcmd':
            raise ValueError(f"only the 'lcmd' objective is written here, not {tc['objective']!r}")
        if tc.get('timeWarp', 'uniform') != 'uniform':
            raise ValueError(f"only uniform t is written here, not timeWarp {tc['timeWarp']!r}")
        self.device = torch.device(device)
        self.student = load_model(ck, 'model', device).train()
        self.ema = load_model(ck, 'ema', device).requires_grad_(False)
        self.teacher = None
        if tc['teacher'] == 'ema':
            # a checkpoint of a run with another teacher mode starts the teacher from the sampling EMA, as lcmd does
            has_teacher = any(k.startswith('teacher.') for k in ck.tensors)
            self.teacher = load_model(ck, 'teacher' if has_teacher else 'ema', device).requires_grad_(False)
        self.steps = ck.state['steps']
        self.optimizer_steps = ck.state['optimizerSteps']

        # no weight decay on the embedding table, the [mask] vector, the class embedding, the posterior-input table,
        # norms and biases
        named = [(n, p) for n, p in self.student.named_parameters() if p.requires_grad]
        self.params = [p for _, p in named]
        decayed = [p for n, p in named if p.ndim >= 2 and not n.startswith(('embedding.', 'class_embed.')) and n != 'posterior_in']
        decayed_ids = {id(p) for p in decayed}
        others = [p for p in self.params if id(p) not in decayed_ids]
        self.optimizer = torch.optim.AdamW(
            [{'params': decayed, 'weight_decay': tc['weightDecay']}, {'params': others, 'weight_decay': 0.0}],
            lr=tc['lr'], betas=(tc['beta1'], tc['beta2']), eps=tc['adamEps'])
        # resume Adam's moments and step count from the checkpoint
        exp_avg, exp_avg_sq = ck.group('optim.exp_avg'), ck.group('optim.exp_avg_sq')
        for n, p in named:
            self.optimizer.state[p] = {'step': torch.tensor(float(self.optimizer_steps)),
                                       'exp_avg': exp_avg[n].to(self.device), 'exp_avg_sq': exp_avg_sq[n].to(self.device)}
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(tc['seed']))

    def draw_noise(self, batch):
        """All randomness of one step (lcmd draws the same quantities from counter-based streams)."""
        n, d, dev, g = self.mc['height'] * self.mc['width'], self.mc['embedDim'], self.device, self.generator
        t = torch.rand(batch, device=dev, generator=g)
        return {
            't': t,
            's': t * torch.rand(batch, device=dev, generator=g),  # the CM target time, s ~ U(0, t)
            'eps_t': torch.randn(batch, n, d, device=dev, generator=g),
            'eps_0': torch.randn(batch, n, d, device=dev, generator=g),
            'drop': torch.rand(batch, n, device=dev, generator=g),
            'ratio': torch.rand(batch, device=dev, generator=g),
            'class': torch.rand(batch, device=dev, generator=g),
            'self_cond': torch.rand(batch, device=dev, generator=g),
        }

    def cm_teacher(self):
        return {'ema': self.teacher, 'sampling': self.ema, 'online': self.student}[self.tc['teacher']]

    def losses(self, tokens, classes, noise, lambda_cm, lambda_diff):
        """Every loss term of one batch; 'total' is differentiable."""
        mc, tc, student = self.mc, self.tc, self.student
        sched = student.schedule
        batch = tokens.shape[0]
        t, s = noise['t'], noise['s']

        def per_example(v):  # [B] float64 -> [B, 1, 1] float32
            return v.float()[:, None, None]

        if classes is not None and mc['numClasses'] > 0 and tc['classDropout'] > 0:
            # class dropout: some examples see the null class, so that guidance has an unconditional model
            classes = torch.where(noise['class'] < tc['classDropout'], torch.full_like(classes, mc['numClasses']), classes)

        table = student.embedding.embeddings()
        e_x = F.embedding(tokens, table)  # the L_diff target, undropped
        dropped = drop_mask(tc['dropStrategy'], tc['dropRate'], noise['drop'], noise['ratio'], t)
        mask_vec = student.embedding.mask
        before = tc['dropPlacement'] == 'before-noise'
        e_in = torch.where(dropped[..., None], mask_vec, e_x) if before else e_x

        def late_drop(z):  # dropping after the noise: the dropped positions of z hold [mask] exactly
            return z if before else torch.where(dropped[..., None], mask_vec, z)

        z_t = late_drop(per_example(sched.alpha(t)) * e_in + per_example(sched.sigma(t)) * noise['eps_t'])

        self_cond = None
        if mc['selfCondition']:
            # for a share of the examples, a first gradient-free prediction at t becomes part of the input
            with torch.no_grad():
                use = (noise['self_cond'] < tc['selfCondRate']).float()[:, None, None]
                self_cond = student.predicted_embedding(student(z_t, t, classes, dropped=dropped)) * use

        recon_on = tc['lambdaRecon'] > 0
        if recon_on:
            # the t = 0 forward for L_recon, batched with the one at t
            zero = torch.zeros_like(t)
            z_0 = late_drop(per_example(sched.alpha(zero)) * e_in + per_example(sched.sigma(zero)) * noise['eps_0'])
            logits = student(torch.cat([z_t, z_0]), torch.cat([t, zero]),
                             None if classes is None else torch.cat([classes, classes]),
                             self_cond=None if self_cond is None else torch.cat([self_cond, torch.zeros_like(self_cond)]),
                             dropped=torch.cat([dropped, dropped]))
            logits_t, logits_0 = logits[:batch], logits[batch:]
        else:
            logits_t = student(z_t, t, classes, self_cond=self_cond, dropped=dropped)

        vocab = mc['vocabSize']
        flat = tokens.reshape(-1)
        out = {}
        out['recon'] = F.cross_entropy(logits_0.reshape(-1, vocab), flat) if recon_on else torch.tensor(float('nan'))
        out['ce'] = F.cross_entropy(logits_t.reshape(-1, vocab), flat)
        e_hat = student.predicted_embedding(logits_t)
        out['diff'] = (e_x - e_hat).pow(2).sum(-1).mean()
        alpha_1, sigma_1 = sched.alpha_sigma(1.0)
        d = mc['embedDim']
        # KL(q(z_1 | x) || N(0, I)) per token: reported, not trained on
        out['prior'] = (0.5 * (alpha_1 ** 2 * e_x.pow(2).sum(-1) + d * (sigma_1 ** 2 - 1 - math.log(sigma_1 ** 2)))).mean()
        out['accuracyT'] = (logits_t.argmax(-1) == tokens).float().mean()

        if lambda_cm > 0:
            log_q = self.consistency_target(z_t.detach(), e_in.detach(), dropped, classes,
                                            None if before else mask_vec.detach(), noise)
            log_p = torch.log_softmax(logits_t, dim=-1)
            if tc['klDirection'] == 'teacher-student':
                out['cm'] = (log_q.exp() * (log_q - log_p)).sum(-1).mean()
            else:
                out['cm'] = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
        else:
            out['cm'] = torch.zeros((), device=self.device)

        total = lambda_cm * out['cm'] + lambda_diff * out['diff']
        if recon_on:
            total = total + tc['lambdaRecon'] * out['recon']
        if tc['lambdaCe'] > 0:
            total = total + tc['lambdaCe'] * out['ce']
        out['total'] = total
        return out

    @torch.no_grad()
    def consistency_target(self, z_t, e_in, dropped, classes, late_mask, noise):
        """log q [B, N, K]: the teacher's prediction at s, from z_s one DDIM step (with the teacher's e_hat) below z_t,
        or, with cmTarget 'data', from z_s = alpha_s e + sigma_s eps with the student's noise."""
        tc = self.tc
        teacher = self.cm_teacher()
        sched = teacher.schedule
        t, s = noise['t'], noise['s']
        a_s, s_s = sched.alpha(s)[:, None, None], sched.sigma(s)[:, None, None]
        a_t, s_t = sched.alpha(t)[:, None, None], sched.sigma(t)[:, None, None]
        was_training = teacher.training
        teacher.train(tc['teacherDropout'])
        if tc['cmTarget'] == 'data':
            z_s = a_s.float() * e_in + s_s.float() * noise['eps_t']
        else:
            e_minus = teacher.predicted_embedding(teacher(z_t, t, classes, dropped=dropped))
            z_s = (s_s / s_t).float() * z_t + (a_s - a_t * s_s / s_t).float() * e_minus
        if late_mask is not None:
            z_s = torch.where(dropped[..., None], late_mask, z_s)
        log_q = torch.log_softmax(teacher(z_s, s, classes, dropped=dropped), dim=-1)
        teacher.train(was_training)
        return log_q

    def step(self, tokens, classes=None, noise=None):
        """One optimisation step on tokens [B, N] int64 and classes [B] int64; returns the loss terms as floats."""
        tc = self.tc
        lr = learning_rate(tc, self.steps)
        lambda_cm = ramped(tc['lambdaCm'], tc['lambdaCmFinal'], tc['weightRampSteps'], self.steps)
        lambda_diff = ramped(tc['lambdaDiff'], tc['lambdaDiffFinal'], tc['weightRampSteps'], self.steps)
        if noise is None:
            noise = self.draw_noise(tokens.shape[0])
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.losses(tokens, classes, noise, lambda_cm, lambda_diff)
        loss = terms['total'].item()
        if math.isfinite(loss):
            terms['total'].backward()
        for p in self.params:  # a parameter the loss does not reach still decays and moves its moments, as in lcmd
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        clip = tc['gradClip'] if tc['gradClip'] > 0 else float('inf')
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, clip).item()
        skipped = not (math.isfinite(loss) and math.isfinite(grad_norm))
        if not skipped:
            for group in self.optimizer.param_groups:
                group['lr'] = lr
            self.optimizer.step()
            self.optimizer_steps += 1
            self.update_emas()
        self.steps += 1
        result = {k: v.item() for k, v in terms.items() if k != 'total'}
        result.update(loss=loss, gradNorm=grad_norm, lr=lr, skipped=skipped, step=self.steps)
        return result

    @torch.no_grad()
    def update_emas(self):
        # decay warm-up mu_n = min(mu, (1 + n) / (10 + n)), n = updates applied before this one
        n = self.optimizer_steps - 1
        warm = (1 + n) / (10 + n)
        targets = [(self.ema, min(self.tc['emaDecay'], warm))]
        if self.teacher is not None:
            decay = self.tc['teacherDecay']
            targets.append((self.teacher, min(decay, warm) if self.tc['teacherWarmup'] else decay))
        for net, decay in targets:
            for e, p in zip(net.parameters(), self.student.parameters()):
                e.mul_(decay).add_(p, alpha=1 - decay)


# ----------------------------------------------------------------------------------------------------------------
# Sampling.

@torch.no_grad()
def sample(model, n, classes=None, steps=50, sampler='ancestral', guidance=0.0, noise=None, generator=None):
    """Draws n token grids in one batch: returns (tokens [n, N] int64, final probabilities [n, N, K]).

    classes: [n] int64 in [0, C) for a class-conditional model, None for an unconditional one.
    sampler: 'ddim' (deterministic given z_1) or 'ancestral' (draws from q(z_s | z_t, x = e_hat)).
    guidance: w of (1 + w) logits(z, c) - w logits(z, null), both halves in one forward of 2n rows.
    noise: optional callable (kind, j) -> [n, N, d] float32 for kind 'initial' (j = steps) and 'ancestral' (the draw
    leaving grid index j); by default torch.randn with `generator`."""
    device = model.positions.device
    c = model.config
    shape = (n, c['height'] * c['width'], c['embedDim'])
    if noise is None:
        def noise(kind, j):
            return torch.randn(shape, device=device, generator=generator)
    sched = model.schedule
    table = model.embedding.embeddings()
    grid = [j / steps for j in range(steps + 1)]  # t_T = 1 down to t_0 = 0
    guided = guidance > 0 and classes is not None
    null = None if classes is None else torch.full_like(classes, model.num_classes)

    def probabilities(z, j, self_cond):
        t = torch.full((n,), grid[j], dtype=torch.float32, device=device)
        if guided:
            both = model(torch.cat([z, z]), torch.cat([t, t]), torch.cat([classes, null]),
                         self_cond=None if self_cond is None else torch.cat([self_cond, self_cond]))
            logits = (1 + guidance) * both[:n] - guidance * both[n:]
        else:
            logits = model(z, t, classes, self_cond=self_cond)
        return torch.softmax(logits, dim=-1)

    z = noise('initial', steps)
    self_cond = None
    for j in range(steps, 0, -1):
        a_s, s_s = sched.alpha_sigma(grid[j - 1])
        a_t, s_t = sched.alpha_sigma(grid[j])
        e_hat = probabilities(z, j, self_cond) @ table
        if model.self_condition:
            self_cond = e_hat
        if sampler == 'ddim':
            z = (s_s / s_t) * z + (a_s - a_t * s_s / s_t) * e_hat
        elif sampler == 'ancestral':
            # q(z_s | z_t, x = e_hat) = N(coef_z z_t + coef_x e_hat, var I), alpha_{t|s} = alpha_t / alpha_s
            a_ts = a_t / a_s
            var_ts = max(0.0, s_t ** 2 - a_ts ** 2 * s_s ** 2)  # sigma_{t|s}^2; rounding can make it slightly negative
            coef_z, coef_x = a_ts * s_s ** 2 / s_t ** 2, a_s * var_ts / s_t ** 2
            z = coef_z * z + coef_x * e_hat + math.sqrt(var_ts * s_s ** 2 / s_t ** 2) * noise('ancestral', j)
        else:
            raise ValueError(f"sampler must be 'ddim' or 'ancestral', got {sampler!r}")
    probs = probabilities(z, 0, self_cond)
    return probs.argmax(-1), probs
