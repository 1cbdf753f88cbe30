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

Environment: GBP_PORTAGE is the Portage source directory. It is read-only and its symlinks were
laid down as small files naming their targets, so each fake root gets its own copy with those
links restored (bin/ebuild-ipc is one: without it every ebuild phase fails).
"""
import json
import os
import shutil
import subprocess
import sys

SOURCE = os.path.abspath(os.environ["GBP_PORTAGE"])
os.environ.setdefault("PORTAGE_USERNAME", "root")
os.environ.setdefault("PORTAGE_GRPNAME", "root")
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
sys.dont_write_bytecode = True


def copy_portage(root):
    """A writable copy of the Portage source with its flattened symlinks made links again."""
    dest = os.path.join(root, "portage")
    if os.path.isdir(dest):
        return dest
    shutil.copytree(SOURCE, dest)
    for dirpath, _, filenames in os.walk(dest):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, os.stat(path).st_mode | 0o600)
            if os.path.getsize(path) > 80:
                continue
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            target = os.path.join(dirpath, text)
            if text and all(c.isalnum() or c in "_./+-" for c in text) and os.path.isfile(target) and not text.startswith("/"):
                mode = os.stat(target).st_mode
                os.unlink(path)
                os.symlink(text, path)
                os.chmod(target, mode | 0o755)
    return dest


def gnupg_home(root, lib):
    """Portage's test key in a private copy (GnuPG refuses a home others can read). As root,
    Portage verifies package signatures as `nobody` (GPG_VERIFY_USER_DROP), so the copy is
    nobody's, as a client's /etc/portage/gnupg is readable by the verifying user."""
    home = os.path.join(root, "gnupg")
    if not os.path.isdir(home):
        shutil.copytree(os.path.join(lib, "portage", "tests", ".gnupg"), home)
        os.chmod(home, 0o700)
        give_to_nobody(home)
    return home


def give_to_nobody(home):
    if os.getuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        for dirpath, dirnames, filenames in os.walk(home):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.chown(name, nobody.pw_uid, nobody.pw_gid)


def client_keyring(root, steps):
    """The client's /etc/portage/gnupg as an admin sets it up: empty, then the shell steps gbp
    prints (the harness keeps its own home, with the test key's secret part, for its setup)."""
    home = os.path.join(root, "client-gnupg")
    os.makedirs(home, mode=0o700)
    for line in steps:
        subprocess.run(["sh", "-ec", line.replace("/etc/portage/gnupg", home)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    give_to_nobody(home)
    return home


def init(root):
    os.makedirs(root, exist_ok=True)
    portage_dir = copy_portage(root)
    lib = os.path.join(portage_dir, "lib")
    sys.path.insert(0, lib)
    os.environ["PORTAGE_GNUPGHOME"] = gnupg_home(root, lib)
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
            "PYTHONPATH": lib,
            "FEATURES": "-sandbox -usersandbox -usersync",
        }
    )
    steps = os.environ.get("GBP_GNUPG_STEPS")
    if steps:
        # Portage reads the environment over make.conf: verification uses the client's keyring
        env["BINPKG_GPG_VERIFY_GPG_HOME"] = client_keyring(root, json.loads(steps))
    with open(os.path.join(root, "env.json"), "w") as f:
        json.dump({"eprefix": eprefix, "env": env, "portage": portage_dir}, f)
    print(json.dumps({"eprefix": eprefix}))


def merged_repos_conf(portage_dir, user_file):
    """Portage's cnf/repos.conf, then the user's file, read into one parser the way Portage reads
    its configuration files one after the other (a section in a later file overrides only the keys
    it names), written back as the single text PORTAGE_REPOSITORIES takes."""
    import configparser
    import io

    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=("#",), default_section="DEFAULT")
    parser.optionxform = str
    for path in (os.path.join(portage_dir, "cnf", "repos.conf"), user_file):
        with open(path) as f:
            parser.read_file(f, source=path)
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def emerge(root, repos_conf, binrepos_conf, args):
    with open(os.path.join(root, "env.json")) as f:
        state = json.load(f)
    eprefix, env, portage_dir = state["eprefix"], state["env"], state["portage"]
    if repos_conf != "-":
        env["PORTAGE_REPOSITORIES"] = merged_repos_conf(portage_dir, repos_conf)
    binrepos_dir = os.path.join(eprefix, "etc", "portage", "binrepos.conf")
    if binrepos_conf != "-":
        if os.path.isdir(binrepos_dir):
            shutil.rmtree(binrepos_dir)
        elif os.path.exists(binrepos_dir):
            os.unlink(binrepos_dir)
        os.makedirs(binrepos_dir)
        shutil.copy(binrepos_conf, os.path.join(binrepos_dir, "gbp.conf"))
    cmd = [sys.executable, "-b", "-Wd", os.path.join(portage_dir, "bin", "emerge"), *args]
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
