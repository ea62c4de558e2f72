"""The RESULT lines of the programs written by the third user probe (imported from this
folder: each program still runs as `python PROGRAM.py`, under torch or minigrad).

Values are printed without spaces, so the shared runner (../shared/torch_programs/run.py,
which splits a line on every space) reads a printed list as one field, and a value checked
with close/min/max also gets a `<name>_isnan` line, since that runner lets NaN pass those
rules (this folder's run.py reads both properly)."""


def R(name, v, rule="close", arg=1e-5):
    print(f"RESULT {name} {str(v).replace(' ', '')} {rule} {arg}")
    if rule != "equal":
        print(f"RESULT {name}_isnan {str(v) == 'nan'} equal -")


def section(name, fn):
    """Run one part of a program; an exception is reported as a RESULT (so one failing
    part does not hide the others' results)."""
    try:
        fn()
    except Exception as e:
        print(f"# {name} raised {type(e).__name__}: {e}")
        R(name + "_raised", "yes", "equal", "-")


def dt(d):
    """A dtype's name without torch's prefix (torch.float16 -> float16)."""
    return str(d).replace("torch.", "")
