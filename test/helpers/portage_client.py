#!/usr/bin/env python3
"""The real Portage 3.0.82 (../shared/clients/portage) as the tests' client.

A fake root comes from Portage's own test harness (ResolverPlayground), as Portage's own sync and
binhost tests make theirs; emerge then runs in it as a subprocess, the way a user runs it.

  portage_client.py init ROOT
      make a fake root below ROOT; print {"eprefix": ...}
  portage_client.py emerge ROOT REPOS_CONF BINREPOS_CONF -- ARGS...
      run `emerge ARGS` in it. REPOS_CONF is the repos.conf text to use, placed after Portage's
      own cnf/repos.conf (a client's files are read after the defaults, and override only the
      keys they name); BINREPOS_CONF becomes etc/portage/binrepos.conf. Either may be '-' (none).
      Prints emerge's output and exits with its exit code.

Environment: GBP_PORTAGE is the Portage source directory.
"""
import json
import os
import shutil
import subprocess
import sys

PORTAGE = os.path.abspath(os.environ["GBP_PORTAGE"])
LIB = os.path.join(PORTAGE, "lib")
sys.path.insert(0, LIB)
os.environ.setdefault("PORTAGE_USERNAME", "root")
os.environ.setdefault("PORTAGE_GRPNAME", "root")
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
sys.dont_write_bytecode = True


def gnupg_home(root):
    """Portage's test key in a private copy (GnuPG refuses a home others can read)."""
    home = os.path.join(root, "gnupg")
    if not os.path.isdir(home):
        shutil.copytree(os.path.join(LIB, "portage", "tests", ".gnupg"), home)
        os.chmod(home, 0o700)
    return home


def init(root):
    os.makedirs(root, exist_ok=True)
    os.environ["PORTAGE_GNUPGHOME"] = gnupg_home(root)
    from portage.tests.resolver.ResolverPlayground import ResolverPlayground

    playground = ResolverPlayground(
        eprefix=os.path.join(root, "prefix"),
        user_config={"make.conf": ('FEATURES="-sandbox -usersandbox -usersync"', 'ACCEPT_KEYWORDS="x86 ~x86"')},
    )
    settings = playground.settings
    eprefix = settings["EPREFIX"]
    env = dict(settings.environ())
    home = os.path.join(eprefix, "home")
    os.makedirs(home, exist_ok=True)
    os.makedirs(os.path.join(eprefix, "var", "cache", "edb"), exist_ok=True)
    env.update(
        {
            "PORTAGE_OVERRIDE_EPREFIX": eprefix,
            "HOME": home,
            "PORTAGE_GNUPGHOME": os.environ["PORTAGE_GNUPGHOME"],
            "PORTAGE_INST_GID": str(os.getgid()),
            "PORTAGE_INST_UID": str(os.getuid()),
            "PORTAGE_USERNAME": os.environ["PORTAGE_USERNAME"],
            "PORTAGE_GRPNAME": os.environ["PORTAGE_GRPNAME"],
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": LIB,
            "FEATURES": "-sandbox -usersandbox -usersync",
        }
    )
    with open(os.path.join(root, "env.json"), "w") as f:
        json.dump({"eprefix": eprefix, "env": env}, f)
    print(json.dumps({"eprefix": eprefix}))


def merged_repos_conf(user_file):
    """Portage's cnf/repos.conf, then the user's file, read into one parser the way Portage reads
    its configuration files one after the other (a section in a later file overrides only the keys
    it names), written back as the single text PORTAGE_REPOSITORIES takes."""
    import configparser
    import io

    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=("#",), default_section="DEFAULT")
    parser.optionxform = str
    for path in (os.path.join(PORTAGE, "cnf", "repos.conf"), user_file):
        with open(path) as f:
            parser.read_file(f, source=path)
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def emerge(root, repos_conf, binrepos_conf, args):
    with open(os.path.join(root, "env.json")) as f:
        state = json.load(f)
    eprefix, env = state["eprefix"], state["env"]
    if repos_conf != "-":
        env["PORTAGE_REPOSITORIES"] = merged_repos_conf(repos_conf)
    binrepos_dir = os.path.join(eprefix, "etc", "portage", "binrepos.conf")
    if binrepos_conf != "-":
        if os.path.isdir(binrepos_dir):
            shutil.rmtree(binrepos_dir)
        elif os.path.exists(binrepos_dir):
            os.unlink(binrepos_dir)
        os.makedirs(binrepos_dir)
        shutil.copy(binrepos_conf, os.path.join(binrepos_dir, "gbp.conf"))
    cmd = [sys.executable, "-b", "-Wd", os.path.join(PORTAGE, "bin", "emerge"), *args]
    r = subprocess.run(cmd, env=env, cwd=env["HOME"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sys.stdout.buffer.write(r.stdout)
    sys.exit(r.returncode)


if __name__ == "__main__":
    if sys.argv[1] == "init":
        init(sys.argv[2])
    elif sys.argv[1] == "emerge":
        sep = sys.argv.index("--")
        emerge(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[sep + 1 :])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
