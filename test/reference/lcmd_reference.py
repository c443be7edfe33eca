#!/usr/bin/python3
"""An independent PyTorch implementation of the VQ-LCMD network forward pass and loss terms (SPEC sections 3-6).

Written from the SPEC and the checkpoint's documented tensor names, not from the C++ code, so the tests can compare
lcmd's native loss terms against it. Runs with Debian's /usr/bin/python3 (torch 1.13 and numpy; no safetensors
package: the file is parsed with json + numpy.frombuffer). Everything is computed in float64.

Usage: lcmd_reference.py CASES.json OUT.json
CASES.json: {"cases": [{"name", "student": {"path", "prefix"}, "teacher": {"path", "prefix"}, "train": {full train
config}, "tokens": [[..]], "classes": [..] | null, "noise": {"t", "s", "tWeight", "epsT", "eps0", "dropUniforms",
"ratioUniforms", "classUniforms"}, "lambdaCm", "lambdaDiff"}]}
OUT.json: {"results": [{"name", "total", "recon", "diff", "cm", "prior", "accuracyT"}]}
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

# The file format is not what these tests check: read it with the benchmark's reader (bench/pytorch/lcmd_model.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "pytorch"))
from lcmd_model import read_safetensors  # noqa: E402


def load_safetensors(path):
    """Returns ({name: float64 or integer tensor}, metadata) from a .safetensors file."""
    arrays, metadata = read_safetensors(path)
    return {name: torch.from_numpy(array.copy()) for name, array in arrays.items()}, metadata


def load_model(path, prefix):
    """The weights under `prefix` (e.g. "model.") as float64, and the model config from the metadata."""
    tensors, metadata = load_safetensors(path)
    weights = {k[len(prefix) :]: v.double() for k, v in tensors.items() if k.startswith(prefix)}
    return weights, json.loads(metadata["lcmd.model"])


class Schedule:
    """Shifted cosine log-SNR: lambda(t) = -2 log tan(pi u / 2) + 2 log s, u = t_min + t (t_max - t_min)."""

    def __init__(self, shift, max_logsnr):
        self.shift = shift
        # tan(pi u / 2) = exp(-lambda / 2) at the clip values
        self.t_min = 2 / math.pi * math.atan(math.exp(-max_logsnr / 2))
        self.t_max = 2 / math.pi * math.atan(math.exp(max_logsnr / 2))

    def logsnr(self, t):
        u = self.t_min + t.double() * (self.t_max - self.t_min)
        return -2 * torch.log(torch.tan(math.pi * u / 2)) + 2 * math.log(self.shift)

    def alpha(self, t):
        return torch.sigmoid(self.logsnr(t)).sqrt()

    def sigma(self, t):
        return torch.sigmoid(-self.logsnr(t)).sqrt()


def sinusoidal(x, dim):
    """[B] -> [B, dim]: [sin(x f_i), cos(x f_i)] with f_i = 10000^(-i / (dim / 2)), zero-padded to an odd dim."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    args = x.double()[:, None] * freqs[None, :]
    out = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    if dim % 2:
        out = torch.cat([out, torch.zeros(x.shape[0], 1, dtype=torch.float64)], dim=-1)
    return out


def linear(w, prefix, x):
    return x @ w[prefix + ".weight"].t() + w[prefix + ".bias"]


def embedding_table(w, config):
    table = w["embedding.table"]
    if config["l2NormalizeEmbeddings"]:
        table = table / table.norm(dim=-1, keepdim=True) * math.sqrt(table.shape[1])
    return table


def adaptive_layer_norm(w, prefix, h, y_act):
    """(1 + a(y)) * LayerNorm(h) + b(y), LayerNorm without affine parameters."""
    mod = linear(w, prefix + ".modulation", y_act)[:, None, :]
    scale, shift = mod.chunk(2, dim=-1)
    mean = h.mean(-1, keepdim=True)
    var = ((h - mean) ** 2).mean(-1, keepdim=True)
    return (h - mean) / torch.sqrt(var + 1e-6) * (1 + scale) + shift


def attention(w, prefix, x, heads):
    b, n, hidden = x.shape
    dh = hidden // heads
    qkv = linear(w, prefix + ".qkv", x).reshape(b, n, 3, heads, dh)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # [B, heads, N, dh]
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
    return linear(w, prefix + ".out", (weights @ v).transpose(1, 2).reshape(b, n, hidden))


def forward(w, config, z, t, classes, dropped=None, self_cond=None):
    """Logits [B, N, K] of the denoiser f(z_t, t, c) in eval mode (no dropout). dropped [B, N, 1]: positions holding the
    [mask] vector, which get no exact-likelihood term; self_cond [B, N, d]: the previous prediction (zeros if None)."""
    schedule = Schedule(config["shift"], config["maxLogsnr"])
    level = schedule.logsnr(t) if config["timeInput"] == "logsnr" else t.double() * 1000.0
    y = linear(w, "time_mlp.2", F.silu(linear(w, "time_mlp.0", sinusoidal(level, config["condDim"]))))
    if config["numClasses"] > 0:
        if classes is None:
            classes = torch.full((z.shape[0],), config["numClasses"], dtype=torch.long)
        y = y + w["class_embed.weight"][classes]
    y_act = F.silu(y)
    n = z.shape[1]
    x = z
    if config["selfCondition"]:
        x = torch.cat([z, torch.zeros_like(z) if self_cond is None else self_cond], -1)
    h = linear(w, "in_proj", x) + sinusoidal(torch.arange(n, dtype=torch.float64), config["hidden"])[None]
    exact = None
    if config["exactLikelihoodLogits"] or config.get("posteriorInput", False):
        # log N(z_i; alpha e_k, sigma^2 I) up to a constant in k
        table = embedding_table(w, config)
        alpha, sigma2 = schedule.alpha(t)[:, None, None], torch.sigmoid(-schedule.logsnr(t))[:, None, None]
        sq_dist = ((z[:, :, None, :] - alpha[..., None] * table[None, None]) ** 2).sum(-1)
        exact = -sq_dist / (2 * sigma2) + (z**2).sum(-1, keepdim=True) / (2 * sigma2)
    if config.get("posteriorInput", False):
        # the token posterior under a uniform prior, through the posterior-input table; none at dropped positions
        posterior = torch.softmax(exact, -1) @ w["posterior_in"]
        h = h + (posterior if dropped is None else torch.where(dropped, torch.zeros_like(posterior), posterior))
    for i in range(config["layers"]):
        p = "blocks.%d" % i
        h = h + attention(w, p + ".attn", adaptive_layer_norm(w, p + ".norm1", h, y_act), config["heads"])
        h = h + linear(w, p + ".fc2", F.gelu(linear(w, p + ".fc1", adaptive_layer_norm(w, p + ".norm2", h, y_act))))
    logits = linear(w, "head", F.layer_norm(h, (config["hidden"],), w["final_norm.weight"], w["final_norm.bias"], eps=1e-6))
    if config["exactLikelihoodLogits"]:
        logits = logits + (exact if dropped is None else torch.where(dropped, torch.zeros_like(exact), exact))
    return logits


def drop_mask(train, u, ratio_u, t):
    """Which positions get the [mask] vector (SPEC 6.1)."""
    r = 0.0 if train["objective"] == "vlb" else train["dropRate"]
    n = u.shape[1]
    if r <= 0:
        return torch.zeros_like(u, dtype=torch.bool)
    strategy = train["dropStrategy"]
    if strategy == "bernoulli":
        return u < r
    if strategy == "count":
        count = int(math.floor(r * n))
        ranks = torch.argsort(torch.argsort(u, dim=1), dim=1)  # rank of each position's draw within its row
        return ranks < count
    rho = ratio_u * 2 * r if strategy == "random-ratio" else t * 2 * r
    return u < torch.clamp(rho, max=0.95)[:, None]


def kl(log_a, log_b):
    """KL(a || b) over the last dimension."""
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def losses(case):
    sw, config = load_model(case["student"]["path"], case["student"]["prefix"])
    tw, teacher_config = load_model(case["teacher"]["path"], case["teacher"]["prefix"])
    train = case["train"]
    noise = {k: torch.tensor(v, dtype=torch.float64) for k, v in case["noise"].items()}
    tokens = torch.tensor(case["tokens"], dtype=torch.long)
    classes = torch.tensor(case["classes"], dtype=torch.long) if case["classes"] is not None else None
    vlb = train["objective"] == "vlb"
    schedule = Schedule(config["shift"], config["maxLogsnr"])
    b, n = tokens.shape
    d = config["embedDim"]

    table = embedding_table(sw, config)
    e_x = table[tokens]
    dropped = drop_mask(train, noise["dropUniforms"], noise["ratioUniforms"], noise["t"])[..., None]
    mask = sw["embedding.mask"]
    before = train["dropPlacement"] == "before-noise"
    e_in = torch.where(dropped, mask, e_x) if before else e_x

    def noised(alpha, sigma, eps):
        z = alpha[:, None, None] * e_in + sigma[:, None, None] * eps
        return z if before else torch.where(dropped, mask, z)

    t, s, zero = noise["t"], noise["s"], torch.zeros(b, dtype=torch.float64)
    z_t = noised(schedule.alpha(t), schedule.sigma(t), noise["epsT"])
    z_0 = noised(schedule.alpha(zero), schedule.sigma(zero), noise["eps0"])

    if classes is not None and config["numClasses"] > 0 and not vlb and train["classDropout"] > 0:
        classes = torch.where(noise["classUniforms"] < train["classDropout"], torch.full_like(classes, config["numClasses"]), classes)

    self_cond = None
    if config["selfCondition"]:
        use = (noise["selfCondUniforms"] < train["selfCondRate"]).double()[:, None, None]
        self_cond = torch.softmax(forward(sw, config, z_t, t, classes, dropped), -1) @ table * use
    logits_t = forward(sw, config, z_t, t, classes, dropped, self_cond)
    logits_0 = forward(sw, config, z_0, zero, classes, dropped)
    out = {"name": case["name"]}
    out["recon"] = F.cross_entropy(logits_0.reshape(-1, config["vocabSize"]), tokens.reshape(-1)).item()
    out["ce"] = F.cross_entropy(logits_t.reshape(-1, config["vocabSize"]), tokens.reshape(-1)).item()
    e_hat = torch.softmax(logits_t, -1) @ table
    sq_err = ((e_x - e_hat) ** 2).sum(-1)
    # KL(N(alpha_1 e, sigma_1^2 I) || N(0, I)) per token
    one = torch.ones(1, dtype=torch.float64)
    a1, s1 = schedule.alpha(one).item(), schedule.sigma(one).item()
    out["prior"] = (0.5 * ((s1**2 + (a1 * e_x) ** 2 - 1 - math.log(s1**2)).sum(-1))).mean().item()
    out["accuracyT"] = (logits_t.argmax(-1) == tokens).double().mean().item()
    if vlb:
        out["diff"] = (sq_err.mean(1) * noise["tWeight"]).mean().item()
        out["cm"] = 0.0
        out["total"] = out["recon"] + out["prior"] + out["diff"]
        return out
    out["diff"] = sq_err.mean().item()
    cm = 0.0
    if case["lambdaCm"] > 0:
        a_s, s_s = schedule.alpha(s)[:, None, None], schedule.sigma(s)[:, None, None]
        a_t, s_t = schedule.alpha(t)[:, None, None], schedule.sigma(t)[:, None, None]
        if train["cmTarget"] == "data":
            z_s = noised(schedule.alpha(s), schedule.sigma(s), noise["epsT"])
        else:
            e_minus = torch.softmax(forward(tw, teacher_config, z_t, t, classes, dropped), -1) @ embedding_table(tw, teacher_config)
            z_s = (s_s / s_t) * z_t + (a_s - a_t * s_s / s_t) * e_minus
            if not before:
                z_s = torch.where(dropped, mask, z_s)
        log_q = torch.log_softmax(forward(tw, teacher_config, z_s, s, classes, dropped), -1)
        log_p = torch.log_softmax(logits_t, -1)
        cm = (kl(log_q, log_p) if train["klDirection"] == "teacher-student" else kl(log_p, log_q)).mean().item()
    out["cm"] = cm
    out["total"] = train["lambdaRecon"] * out["recon"] + train["lambdaCe"] * out["ce"] + case["lambdaCm"] * cm + case["lambdaDiff"] * out["diff"]
    return out


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    with torch.no_grad():
        results = [losses(case) for case in cases]
    with open(sys.argv[2], "w") as f:
        json.dump({"results": results}, f)


if __name__ == "__main__":
    main()
