"""What a training loop shows while it runs: a progress bar (tqdm, on a terminal),
a nanoGPT-style log line every N steps, and the throughput at the end. Only rank
0 of a distributed job prints.

    progress = Progress(steps, start, log_every, budget_seconds=15 * 60)
    with progress:
        for step in ...:
            ...
            progress.update(step, loss, lr, grad_norm, n_tokens, seconds)
            if progress.out_of_time:
                break
    progress.report_throughput()
"""
import minigrad.distributed as dist


def format_log_line(step, steps, loss, lr, grad_norm, ms_per_step, tokens_per_s):
    """A nanoGPT-style line: step, loss, learning rate, gradient norm, speed."""
    width = len(str(steps))
    return (f"step {step:>{width}}/{steps} | loss {loss:.4f} | lr {lr:.2e} | "
            f"grad norm {grad_norm:.3f} | {ms_per_step:6.1f} ms/step | "
            f"{tokens_per_s:,.0f} tok/s")


def format_throughput(steps, seconds, tokens_per_second, world_size=1):
    """The run's speed: target tokens per second of all processes together."""
    line = (f"throughput: {tokens_per_second:,.0f} tok/s over {steps} steps "
            f"({1000 * seconds / steps:.1f} ms/step)")
    if world_size > 1:
        line += (f", global over {world_size} processes "
                 f"({tokens_per_second / world_size:,.0f} tok/s per process)")
    return line


class Progress:
    """The bar, the log lines and the speed of one training run from step `start` to `steps`.

    Tokens are target tokens, the ones the loss is taken over (as the Annotated
    Transformer counts them), of all ranks together. The bar appears when
    `enabled` and stderr is a terminal (tqdm's own test); log lines always.
    `budget_seconds`: the training time this invocation may take (None: no limit);
    `out_of_time` says when the steps counted so far have used it up.
    """

    def __init__(self, steps, start, log_every, enabled=True, budget_seconds=None):
        self.steps, self.start, self.log_every = steps, start, log_every
        self.budget_seconds = budget_seconds
        if start >= steps:
            dist.print_main(f"the run is at step {start} and --steps is {steps}: nothing to "
                            "train (raise --steps to train further)")
        self.bar = _progress_bar(steps, start, enabled and dist.is_main_process())
        self.window_time, self.window_tokens, self.window_steps = 0.0, 0, 0
        self.run_time, self.run_tokens, self.run_steps = 0.0, 0, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return False

    def update(self, step, loss, lr, grad_norm, n_tokens, seconds):
        """Count one step; print its log line every `log_every` steps and at the last."""
        self.window_time += seconds
        self.window_tokens += n_tokens
        self.window_steps += 1
        self.run_time += seconds
        self.run_tokens += n_tokens
        self.run_steps += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({"loss": f"{loss:.4f}", "lr": f"{lr:.2e}",
                                  "tok/s": f"{n_tokens / seconds:,.0f}"}, refresh=False)
        if step % self.log_every == 0 or step == self.steps:
            self.print(format_log_line(step, self.steps, loss, lr, grad_norm,
                                       1000 * self.window_time / self.window_steps,
                                       self.window_tokens / self.window_time))
            self.window_time, self.window_tokens, self.window_steps = 0.0, 0, 0

    @property
    def out_of_time(self):
        """True once the seconds given to update() add up to budget_seconds."""
        return self.budget_seconds is not None and self.run_time >= self.budget_seconds

    def print(self, line):
        """A line on rank 0 (above the bar when there is one)."""
        if not dist.is_main_process():
            return
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def report_throughput(self):
        """Print the throughput line; return target tokens per second (None if no step ran)."""
        if not self.run_steps:
            return None
        tokens_per_second = self.run_tokens / self.run_time
        dist.print_main(format_throughput(self.run_steps, self.run_time, tokens_per_second,
                                          dist.get_world_size()))
        return tokens_per_second


def _progress_bar(total, initial, enabled):
    """A tqdm bar when asked for and stderr is a terminal (tqdm's own test), else None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar = tqdm(total=total, initial=initial, unit="step", desc="train", dynamic_ncols=True,
               disable=None, leave=True)
    return None if bar.disable else bar
