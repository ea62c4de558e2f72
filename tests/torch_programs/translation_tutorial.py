"""A toy translation model written like PyTorch's "Language Translation with nn.Transformer"
tutorial with the Annotated Transformer's label smoothing and rate: sequence-first tensors
(nn.Transformer's default layout), a collate_fn built on pad_sequence, float causal masks built
with triu/masked_fill, boolean padding masks transposed to (N, S), xavier_uniform_ on every
matrix, KL-divergence label smoothing written with scatter_, index_fill_ and nonzero, a Noam
LambdaLR, and greedy decoding that grows ys with torch.cat."""
import math

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

torch.manual_seed(0)
rng = np.random.default_rng(1)
PAD_IDX, BOS_IDX, EOS_IDX, VOCAB, EMB = 0, 1, 2, 10, 32
# "translation": each source token t becomes 12 - t (tokens 3..9), order kept
pairs = []
for _ in range(240):
    src = rng.integers(3, VOCAB, size=int(rng.integers(2, 6))).tolist()
    pairs.append((src, [12 - t for t in src]))


def collate_fn(batch):
    src_batch, tgt_batch = [], []
    for src, tgt in batch:
        src_batch.append(torch.tensor([BOS_IDX] + src + [EOS_IDX]))
        tgt_batch.append(torch.tensor([BOS_IDX] + tgt + [EOS_IDX]))
    return pad_sequence(src_batch, padding_value=PAD_IDX), pad_sequence(tgt_batch, padding_value=PAD_IDX)


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size, dropout, maxlen=64):
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding)

    def forward(self, token_embedding):
        return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class Seq2SeqTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(d_model=EMB, nhead=4, num_encoder_layers=1,
                                          num_decoder_layers=1, dim_feedforward=64, dropout=0.0)
        self.generator = nn.Linear(EMB, VOCAB)
        self.src_tok_emb = TokenEmbedding(VOCAB, EMB)
        self.tgt_tok_emb = TokenEmbedding(VOCAB, EMB)
        self.positional_encoding = PositionalEncoding(EMB, dropout=0.0)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                memory_key_padding_mask):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src, src_mask):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask)

    def decode(self, tgt, memory, tgt_mask):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask)


def generate_square_subsequent_mask(sz):
    mask = (torch.triu(torch.ones((sz, sz))) == 1).transpose(0, 1)
    mask = mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))
    return mask


def create_mask(src, tgt):
    src_seq_len, tgt_seq_len = src.shape[0], tgt.shape[0]
    tgt_mask = generate_square_subsequent_mask(tgt_seq_len)
    src_mask = torch.zeros((src_seq_len, src_seq_len)).type(torch.bool)
    src_padding_mask = (src == PAD_IDX).transpose(0, 1)
    tgt_padding_mask = (tgt == PAD_IDX).transpose(0, 1)
    return src_mask, tgt_mask, src_padding_mask, tgt_padding_mask


class LabelSmoothing(nn.Module):
    def __init__(self, size, padding_idx, smoothing=0.0):
        super().__init__()
        self.criterion = nn.KLDivLoss(reduction="sum")
        self.padding_idx = padding_idx
        self.confidence = 1.0 - smoothing
        self.smoothing = smoothing
        self.size = size
        self.true_dist = None

    def forward(self, x, target):
        assert x.size(1) == self.size
        true_dist = x.data.clone()
        true_dist.fill_(self.smoothing / (self.size - 2))
        true_dist.scatter_(1, target.data.unsqueeze(1), self.confidence)
        true_dist[:, self.padding_idx] = 0
        mask = torch.nonzero(target.data == self.padding_idx)
        if mask.dim() > 0:
            true_dist.index_fill_(0, mask.squeeze(), 0.0)
        self.true_dist = true_dist
        return self.criterion(x, true_dist.clone().detach())


def rate(step, model_size, factor, warmup):
    if step == 0:
        step = 1
    return factor * (model_size ** (-0.5) * min(step ** (-0.5), step * warmup ** (-1.5)))


# the Annotated Transformer's label-smoothing example, on fixed numbers
crit = LabelSmoothing(5, 0, 0.4)
predict = torch.tensor([[0, 0.2, 0.7, 0.1, 0]] * 5, dtype=torch.float32)
demo_loss = crit(predict.log().clamp(min=-100), torch.tensor([2, 1, 0, 3, 3]))
true_dist = crit.true_dist

model = Seq2SeqTransformer()
for p in model.parameters():
    if p.dim() > 1:
        nn.init.xavier_uniform_(p)
optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda step: rate(step, EMB, 1.0, 60))
criterion = LabelSmoothing(VOCAB, PAD_IDX, smoothing=0.1)
loader = DataLoader(pairs, batch_size=16, shuffle=True, collate_fn=collate_fn)
for epoch in range(12):
    model.train()
    total_loss, total_tokens = 0.0, 0
    for src, tgt in loader:
        tgt_input = tgt[:-1, :]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input)
        logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                       src_padding_mask)
        tgt_out = tgt[1:, :]
        ntokens = (tgt_out != PAD_IDX).sum()
        log_probs = logits.log_softmax(dim=-1)
        loss = criterion(log_probs.reshape(-1, log_probs.shape[-1]), tgt_out.reshape(-1)) / ntokens
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * ntokens.item()
        total_tokens += ntokens.item()
        keep = tgt_out != PAD_IDX
        correct = ((logits.argmax(-1) == tgt_out) & keep).sum().item()


def greedy_decode(model, src, src_mask, max_len, start_symbol):
    memory = model.encode(src, src_mask)
    ys = torch.ones(1, 1).fill_(start_symbol).type(torch.long)
    for i in range(max_len - 1):
        tgt_mask = generate_square_subsequent_mask(ys.size(0)).type(torch.bool)
        out = model.decode(ys, memory, tgt_mask)
        out = out.transpose(0, 1)
        prob = model.generator(out[:, -1])
        _, next_word = torch.max(prob, dim=1)
        next_word = next_word.item()
        ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=0)
        if next_word == EOS_IDX:
            break
    return ys


model.eval()
exact = 0
tests = [[3, 4, 5], [9, 8, 7, 6], [5, 5, 3], [7, 3, 9, 4, 6], [8, 6]]
with torch.no_grad():
    for src_tokens in tests:
        src = torch.tensor([BOS_IDX] + src_tokens + [EOS_IDX]).view(-1, 1)
        num_tokens = src.shape[0]
        src_mask = torch.zeros(num_tokens, num_tokens).type(torch.bool)
        out = greedy_decode(model, src, src_mask, max_len=num_tokens + 2, start_symbol=BOS_IDX).flatten()
        exact += int(out.tolist() == [BOS_IDX] + [12 - t for t in src_tokens] + [EOS_IDX])
src, tgt = next(iter(DataLoader(pairs[:4], batch_size=4, collate_fn=collate_fn)))
masks = create_mask(src, tgt[:-1, :])

print(f"RESULT demo_loss {demo_loss.item():.5f} close 1e-4")
print(f"RESULT true_dist {true_dist.sum().item():.4f},{true_dist[1, 1].item():.4f},{true_dist[2].abs().sum().item():.1f} equal -")
print(f"RESULT collate_layout {tuple(src.shape)},{tuple(tgt.shape)} equal -".replace(", ", ","))
print(f"RESULT mask_shapes {[tuple(m.shape) for m in masks]} equal -".replace(", ", ","))
print(f"RESULT causal_mask {masks[1][0, 1].item()},{masks[1][1, 0].item()} equal -")
print(f"RESULT noam_lr {scheduler.get_last_lr()[0]:.6f} close 1e-7")
print(f"RESULT final_loss {total_loss / total_tokens:.3f} max 0.6")
print(f"RESULT last_batch_token_acc {correct / keep.sum().item():.3f} min 0.6")
print(f"RESULT exact_match {exact} min 0")
