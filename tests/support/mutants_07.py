"""Chapter 7 submissions for the autograder tests: the mistakes students make in gradient
accumulation, data-parallel training and checkpoints, each of which must lose points in the
test that names it."""
from bugs import Bug
from submissions import with_function

SLUG = "07_gpu"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "accumulated loss not divided": Bug(
        "accumulation_step",
        "loss = token_losses(model, x, y).sum() / n_tokens",
        "loss = token_losses(model, x, y).sum()",
        "test_accumulation",
    ),
    "divided by the number of micro-batches, not by the tokens": Bug(
        "accumulation_step",
        "loss = token_losses(model, x, y).sum() / n_tokens",
        "loss = token_losses(model, x, y).sum() / int((y != PAD).sum()) / len(micro_batches)",
        "test_accumulation",
    ),
    "padding counted as tokens": Bug(
        "accumulation_step",
        "n_tokens = sum(int((y != PAD).sum()) for _, y in micro_batches)",
        "n_tokens = sum(y.numel() for _, y in micro_batches)",
        "test_accumulation",
    ),
    "zero_grad inside the accumulation loop": Bug(
        "accumulation_step",
        "    optimizer.zero_grad()\n    n_tokens = sum(int((y != PAD).sum()) for _, y in micro_batches)\n"
        "    total = 0.0\n    for x, y in micro_batches:\n",
        "    n_tokens = sum(int((y != PAD).sum()) for _, y in micro_batches)\n"
        "    total = 0.0\n    for x, y in micro_batches:\n        optimizer.zero_grad()\n",
        "test_accumulation",
    ),
    "gradients of the previous call never zeroed": Bug(
        "accumulation_step",
        "    optimizer.zero_grad()\n",
        "",
        "test_accumulation",
    ),
    "scaler.step before unscale and clipping": Bug(
        "accumulation_step",
        "    if scaler is not None and max_norm is not None:\n        scaler.unscale_(optimizer)\n"
        "    if max_norm is not None:\n        nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n"
        "    if scaler is not None:\n        scaler.step(optimizer)\n        scaler.update()\n"
        "    else:\n        optimizer.step()\n",
        "    if scaler is not None:\n        scaler.step(optimizer)\n        scaler.update()\n"
        "    else:\n        optimizer.step()\n"
        "    if max_norm is not None:\n        nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n",
        "test_accumulation_scaler",
    ),
    "clipping the scaled gradients (no unscale_)": Bug(
        "accumulation_step",
        "    if scaler is not None and max_norm is not None:\n        scaler.unscale_(optimizer)\n",
        "",
        "test_accumulation_scaler",
    ),
    "optimizer.step with a scaler (overflow not skipped, scale never updated)": Bug(
        "accumulation_step",
        "        scaler.step(optimizer)\n        scaler.update()\n",
        "        if max_norm is None:\n            scaler.unscale_(optimizer)\n        optimizer.step()\n",
        "test_accumulation_scaler",
    ),
    "no DistributedSampler: every rank sees the same data": Bug(
        "train_ddp",
        "loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler)",
        "loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,\n"
        "                        generator=torch.Generator().manual_seed(seed))",
        "test_ddp",
    ),
    "set_epoch never called": Bug(
        "train_ddp",
        "        sampler.set_epoch(epoch)\n",
        "",
        "test_ddp",
    ),
    "summed loss instead of the batch mean": Bug(
        "train_ddp",
        "loss = F.cross_entropy(scores.flatten(0, 1), y.flatten())",
        'loss = F.cross_entropy(scores.flatten(0, 1), y.flatten(), reduction="sum")',
        "test_ddp",
    ),
    "no DDP: each rank steps on its own gradients": Bug(
        "train_ddp",
        "ddp = DistributedDataParallel(model)",
        "ddp = model",
        "test_ddp",
    ),
    "torch.load without map_location": Bug(
        "load_checkpoint",
        "state = torch.load(path, map_location=device)",
        "state = torch.load(path)",
        "test_checkpoint",
    ),
    "random generator state not restored": Bug(
        "load_checkpoint",
        '    torch.set_rng_state(state["rng_cpu"].cpu())\n',
        "",
        "test_checkpoint",
    ),
    "resumed at the saved epoch, repeating it": Bug(
        "load_checkpoint",
        'return state["epoch"] + 1',
        'return state["epoch"]',
        "test_checkpoint",
    ),
    "scaler state not saved": Bug(
        "save_checkpoint",
        '    if scaler is not None:\n        state["scaler"] = scaler.state_dict()\n',
        "",
        "test_checkpoint",
    ),
}

# A bug that spans both checkpoint functions: neither saves nor restores the optimizer.
BUGS["checkpoint without the optimizer state"] = Bug.whole({
    "save_checkpoint": with_function(SLUG, "save_checkpoint", '"optimizer": optimizer.state_dict(), ', ""),
    "load_checkpoint": with_function(SLUG, "load_checkpoint", "    optimizer.load_state_dict(state[\"optimizer\"])\n", ""),
}, "test_checkpoint")


# Tokens counted on the inputs: in a batch of poems (the course's poem_batches, pad_collate) x
# has one real token more than y in every poem shorter than the longest; micro-batches whose x
# and y are padded at the same places cannot tell, so the visible test's ragged_batches and the
# hidden test's micro-batches are padded as the course's batches are.
BUGS["token count read from the inputs x instead of the targets y"] = Bug(
    "accumulation_step",
    "n_tokens = sum(int((y != PAD).sum()) for _, y in micro_batches)",
    "n_tokens = sum(int((x != PAD).sum()) for x, _ in micro_batches)",
    "test_accumulation",
)
# What train_ddp returns: one loss per step, over all epochs, as floats.
BUGS["train_ddp returns only the last epoch's losses"] = Bug(
    "train_ddp",
    "    losses = []\n    for epoch in range(epochs):\n",
    "    for epoch in range(epochs):\n        losses = []\n",
    "test_ddp",
)
BUGS["train_ddp returns loss tensors instead of floats"] = Bug(
    "train_ddp",
    "losses.append(loss.item())",
    "losses.append(loss.detach())",
    "test_ddp",
)


# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "weighted micro-batch means, manual all-reduce and sharding, other checkpoint keys": {
        "accumulation_step": '''
def accumulation_step(model, optimizer, micro_batches, scaler=None, max_norm=None):
    counts = [(y != PAD).sum().item() for _, y in micro_batches]
    total_tokens = sum(counts)
    for p in model.parameters():
        p.grad = None
    losses = []
    for (x, y), n in zip(micro_batches, counts):
        per_token = token_losses(model, x, y)
        part = per_token.sum() / n * (n / total_tokens)  # the micro-batch mean, weighted by its share
        if scaler is None:
            part.backward()
        else:
            scaler.scale(part).backward()
        losses.append(part.detach())
    if scaler is not None:
        scaler.unscale_(optimizer)
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_norm=max_norm)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return float(torch.stack(losses).sum())
''',
        "train_ddp": '''%%writefile ddp_lm.py
import torch
import torch.distributed as dist
import torch.nn.functional as F


def train_ddp(model, dataset, batch_size, epochs, lr, seed):
    rank, world = dist.get_rank(), dist.get_world_size()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        g = torch.Generator()
        g.manual_seed(seed + epoch)
        mine = torch.randperm(len(dataset), generator=g)[rank::world]
        for start in range(0, len(mine), batch_size):
            x, y = dataset[mine[start:start + batch_size]]
            loss = F.cross_entropy(model(x)[0].reshape(-1, model.out.out_features), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            for p in model.parameters():
                dist.all_reduce(p.grad)
                p.grad /= world
            opt.step()
            losses.append(float(loss))
    return losses
''',
        "save_checkpoint": '''
def save_checkpoint(path, model, optimizer, epoch, scaler=None):
    torch.save(dict(weights=model.state_dict(), opt=optimizer.state_dict(), done=epoch,
                    amp=None if scaler is None else scaler.state_dict(),
                    rng=torch.random.get_rng_state(),
                    cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []), path)
''',
        "load_checkpoint": '''
def load_checkpoint(path, model, optimizer, scaler=None, device="cpu"):
    ckpt = torch.load(path, map_location=torch.device(device), weights_only=True)
    model.load_state_dict(ckpt["weights"])
    optimizer.load_state_dict(ckpt["opt"])
    if scaler is not None and ckpt["amp"] is not None:
        scaler.load_state_dict(ckpt["amp"])
    torch.random.set_rng_state(ckpt["rng"].to("cpu"))
    if ckpt["cuda_rng"]:
        torch.cuda.set_rng_state_all([s.to("cpu") for s in ckpt["cuda_rng"]])
    return ckpt["done"] + 1
''',
    },
}

# The reference with DataLoader workers inside each DDP process: the sandbox must let them run.
GOOD["reference with a DataLoader worker in each DDP process"] = {
    "train_ddp": with_function(SLUG, "train_ddp",
                               "loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler)",
                               "loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=1)"),
}
