"""Fetching the DDTP Translation indexes with apt itself, privately.

apt-get reads a config of our own (the languages to fetch; `#clear` because
container images often switch translation indexes off) and keeps its lists and
cache in folders of our own, so nothing on the system changes and no root is
needed. apt's helper decompresses the .lz4 lists (it is in apt's library
folder, not on the PATH). The sha256 of every decompressed file is recorded and
compared with the ones measured for Debian 12 (bookworm) main: a mirror that has
moved on gives other files, and other numbers, which is said clearly.
"""
import glob
import os
import shutil
import subprocess

from support.cli import ExampleError
from support.data import sha256_of

LANGUAGES = ("en", "de", "ko")
EXPECTED_SHA256 = {      # Debian 12 (bookworm) main, decompressed, as measured in issue 16
    "en": "62f59c3cdca9786e4f7adf9002f9f5729a684adcb4667e58e448dec9b5a46c7f",
    "de": "adac331fc51f9a00c1b4120b4ac87423be2b1f1615d4f288c7cbc2d5258c0650",
    "ko": "2c6269e0889312fd60711cbe4dd03a50d3f45d0f6a95076d48226f60cc76f76c",
}
APT_HELPER_PLACES = ("/usr/lib/apt/apt-helper", "/usr/libexec/apt/apt-helper")
NO_APT = ("apt-get was not found: the DDTP indexes are fetched with Debian/Ubuntu's apt. "
          "On another system, either run this step in a Debian container "
          "(docker run -v $PWD:/w -w /w debian:12 ...), copy the decompressed "
          "Translation-en/-de/-ko files from a Debian machine into {folder} and run the "
          "data step again, or give your own pairs with --tsv PAIRS.tsv "
          "(one 'english<TAB>translation' per line)")


def translation_path(folder, lang):
    return os.path.join(folder, f"Translation-{lang}")


def fetch(folder, languages=LANGUAGES, log=print):
    """Fetch and decompress Translation-<lang> for `languages` into `folder` with apt.

    Files already in `folder` are kept (delete them to fetch again). Raises
    ExampleError with what to do instead when apt is missing or fails.
    """
    missing = [lang for lang in languages if not os.path.exists(translation_path(folder, lang))]
    if not missing:
        return
    apt_get = shutil.which("apt-get")
    helper = next((p for p in APT_HELPER_PLACES if os.path.exists(p)), None)
    if apt_get is None or helper is None:
        raise ExampleError(NO_APT.format(folder=folder))
    folder = os.path.abspath(folder)
    lists, cache = os.path.join(folder, "lists"), os.path.join(folder, "cache")
    for sub in (os.path.join(lists, "partial"), os.path.join(cache, "archives", "partial")):
        os.makedirs(sub, exist_ok=True)
    conf = os.path.join(folder, "apt.conf")
    with open(conf, "w") as f:
        f.write("#clear Acquire::Languages;\nAcquire::Languages {%s;};\n"
                % ";".join(f'"{lang}"' for lang in languages))
    command = [apt_get, "-c", conf, "-o", f"Dir::State::Lists={lists}",
               "-o", f"Dir::Cache={cache}", "update"]
    log("fetching: " + " ".join(command))
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        tail = "\n".join(done.stdout.strip().splitlines()[-5:])
        raise ExampleError(f"apt-get update failed (exit status {done.returncode}):\n{tail}\n"
                           + NO_APT.format(folder=folder).split(": ", 1)[1])
    for lang in missing:
        # several suites may carry an index (bookworm, bookworm-updates): the main one is the
        # largest
        found = glob.glob(os.path.join(lists, f"*_main_i18n_Translation-{lang}*"))
        if not found:
            raise ExampleError(f"apt fetched no Translation-{lang} index (does the configured "
                               f"mirror carry i18n files?); see {lists}")
        source = max(found, key=os.path.getsize)
        target = translation_path(folder, lang)
        with open(target + ".tmp", "wb") as out:
            subprocess.run([helper, "cat-file", source], stdout=out, check=True)
        os.replace(target + ".tmp", target)
        log(f"  {os.path.basename(source)} -> {target}")


def check_hashes(folder, languages=LANGUAGES, log=print):
    """{lang: sha256} of the decompressed files; a clear warning for each that differs
    from the measured bookworm files (the pair counts will then differ too)."""
    hashes = {}
    for lang in languages:
        path = translation_path(folder, lang)
        if not os.path.exists(path):
            raise ExampleError(f"{path} is missing: run the data step without --no-fetch, or "
                               "put the decompressed Translation file there")
        hashes[lang] = sha256_of(path)
        expected = EXPECTED_SHA256.get(lang)
        if expected and hashes[lang] != expected:
            log(f"WARNING: Translation-{lang} has sha256 {hashes[lang]}, not the measured "
                f"Debian 12 file's {expected}: your mirror serves another version, so the "
                "corpus, its counts and the scores will differ from the README's")
        else:
            log(f"  Translation-{lang}: sha256 {hashes[lang]} (as measured)")
    return hashes
