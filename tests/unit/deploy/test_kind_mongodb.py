"""The kind path's MongoDB: its users are the ones platform-users.json defines, and the
mongosh script that makes them does the right thing on a first run, on a re-run and when locked out.

Docker is not available here, so kind cannot run. Instead, the script runs under node against a
fake `Mongo` that keeps the state a real server would (replica set initiated or not, the
localhost exception open until the first user exists, users and roles). The fake answers the
way mongosh does (a failed command or sign-in throws, with the server's code), and the test
checks every command the script sends.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from caasctl.stack.config import REPO_ROOT

KIND = REPO_ROOT / "hack" / "kind"
UP = KIND / "up.sh"
USERS_FILE = REPO_ROOT / "hack" / "stack" / "mongodb" / "platform-users.json"
MEMBERS = [f"mongodb-{i}.mongodb.caas-backends.svc.cluster.local:27017" for i in range(3)]
ADMIN = "caas-admin"

# A stand-in for mongosh's globals, prepended to the generated script. State comes in through
# FAKE_STATE and goes out, with every command sent, to the file FAKE_OUT.
FAKE_MONGOSH = r"""
const fs = require("fs");
const state = JSON.parse(process.env.FAKE_STATE);
const calls = [];
// mongosh's runCommand throws a command's error (MongoServerError with code and codeName), as
// checked with mongosh 2.12 against a server with --auth.
function fail(code, codeName) {
  const error = new Error(codeName);
  error.code = code;
  error.codeName = codeName;
  throw error;
}
class FakeDb {
  constructor(uri, name) {
    this.uri = uri;
    this.name = name;
    this.user = null;
    const m = /^mongodb:\/\/([^:@/]+):([^@/]+)@/.exec(uri);
    if (m) this.auth(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  }
  auth(user, pwd) {
    const known = state.users[user];
    if (!known || known.pwd !== pwd) {
      if (process.env.FAKE_AUTH_ANSWERS) return { ok: 0, code: 18 };
      const error = new Error("Authentication failed.");
      error.code = 18;
      throw error;
    }
    this.user = user;
    return { ok: 1 };
  }
  runCommand(cmd) {
    const name = Object.keys(cmd)[0];
    const local = this.uri.startsWith("mongodb://127.0.0.1");
    const exception = local && !Object.keys(state.users).length && !Object.keys(state.roles).length;
    calls.push({ name, cmd, uri: this.uri, user: this.user, exception });
    if (name === "hello") return { ok: 1, isWritablePrimary: state.initiated };
    if (!this.user && !exception) return fail(13, "Unauthorized");
    switch (name) {
      case "replSetInitiate":
        if (state.initiated) return fail(23, "AlreadyInitialized");
        state.initiated = true;
        state.config = cmd.replSetInitiate;
        return { ok: 1 };
      case "replSetGetStatus":
        return {
          ok: 1,
          members: state.config.members.map((m, i) => ({
            name: m.host, health: 1, stateStr: i ? "SECONDARY" : "PRIMARY",
          })),
        };
      case "createUser":
        if (!state.initiated) return fail(10107, "NotWritablePrimary");
        if (state.users[cmd.createUser]) return fail(51003, "Location51003");
        state.users[cmd.createUser] = { pwd: cmd.pwd, roles: cmd.roles };
        return { ok: 1 };
      case "updateUser":
        state.users[cmd.updateUser] = { pwd: cmd.pwd, roles: cmd.roles };
        return { ok: 1 };
      case "usersInfo":
        return { ok: 1, users: state.users[cmd.usersInfo] ? [{ user: cmd.usersInfo }] : [] };
      case "createRole":
      case "updateRole":
        state.roles[cmd[name]] = { privileges: cmd.privileges, roles: cmd.roles };
        return { ok: 1 };
      case "rolesInfo":
        return { ok: 1, roles: state.roles[cmd.rolesInfo] ? [{ role: cmd.rolesInfo }] : [] };
      default:
        return fail(59, "CommandNotFound");
    }
  }
}
globalThis.Mongo = class {
  constructor(uri) { this.uri = uri; }
  getDB(name) { return new FakeDb(this.uri, name); }
};
globalThis.sleep = () => {};
globalThis.print = (line) => calls.push({ name: "print", line });
process.on("exit", () => fs.writeFileSync(process.env.FAKE_OUT, JSON.stringify({ state, calls })));
"""


def _platform_users() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(USERS_FILE.read_text())
    return spec


def _passwords() -> dict[str, str]:
    names = [ADMIN, *(u["name"] for u in _platform_users()["users"])]
    return {name: f"pw{i}{name.replace('-', '')}" for i, name in enumerate(names)}


def _script(passwords: dict[str, str]) -> str:
    lines = "".join(f"{user} {password}\n" for user, password in passwords.items())
    result = subprocess.run(
        [str(KIND / "mongodb-init-script.sh"), ADMIN, *MEMBERS],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to run hack/kind/mongodb-init.js (a stated prerequisite)")
    return node


def _run(
    tmp_path: Path,
    state: dict[str, Any],
    passwords: dict[str, str],
    *,
    auth_answers: bool = False,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    script = tmp_path / "init.js"
    script.write_text(FAKE_MONGOSH + _script(passwords))
    out = tmp_path / "out.json"
    result = subprocess.run(
        [_node(), str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={
            "FAKE_STATE": json.dumps(state),
            "FAKE_OUT": str(out),
            "PATH": "/usr/bin:/bin",
            **({"FAKE_AUTH_ANSWERS": "1"} if auth_answers else {}),
        },
    )
    recorded: dict[str, Any] = json.loads(out.read_text())
    return result, recorded


def _fresh() -> dict[str, Any]:
    return {"initiated": False, "users": {}, "roles": {}}


def _sent(recorded: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [call for call in recorded["calls"] if call["name"] == name]


@pytest.mark.parametrize("auth_answers", [False, True], ids=["auth-throws", "auth-answers-0"])
def test_first_run_initiates_the_set_then_makes_the_admin_then_the_platform_users(
    tmp_path: Path, auth_answers: bool
) -> None:
    """A failed sign-in may throw (mongosh) or answer {ok: 0}: both mean "not yet"."""
    passwords = _passwords()
    result, recorded = _run(tmp_path, _fresh(), passwords, auth_answers=auth_answers)
    assert result.returncode == 0, result.stderr
    state, spec = recorded["state"], _platform_users()
    # One replica set of the three members, mongodb-0 preferred as primary.
    assert state["config"] == {
        "_id": "rs0",
        "members": [
            {"_id": i, "host": host, "priority": 2 if i == 0 else 1}
            for i, host in enumerate(MEMBERS)
        ],
    }
    # The administrator through the localhost exception, before any other user.
    (initiate,) = _sent(recorded, "replSetInitiate")
    first_user = _sent(recorded, "createUser")[0]
    assert initiate["exception"]
    assert first_user["exception"]
    assert first_user["cmd"] == {"createUser": ADMIN, "pwd": passwords[ADMIN], "roles": ["root"]}
    # Then exactly the roles and users of platform-users.json, as the administrator, through
    # the replica set (whichever member is primary).
    assert state["roles"] == {
        r["role"]: {"privileges": r["privileges"], "roles": r["roles"]} for r in spec["roles"]
    }
    assert state["users"] == {
        ADMIN: {"pwd": passwords[ADMIN], "roles": ["root"]},
        **{u["name"]: {"pwd": passwords[u["name"]], "roles": u["roles"]} for u in spec["users"]},
    }
    for call in _sent(recorded, "createRole") + _sent(recorded, "createUser")[1:]:
        assert call["user"] == ADMIN
        assert "replicaSet=rs0" in call["uri"]
        assert "authSource=admin" in call["uri"]


def test_re_run_initiates_nothing_and_brings_roles_and_users_back_in_line(
    tmp_path: Path,
) -> None:
    passwords = _passwords()
    _, first = _run(tmp_path, _fresh(), passwords)
    drifted = first["state"]
    drifted["users"]["caas-api"] = {"pwd": "changed", "roles": [{"role": "root", "db": "admin"}]}
    drifted["roles"]["caasApi"]["roles"] = []
    result, recorded = _run(tmp_path, drifted, passwords)
    assert result.returncode == 0, result.stderr
    assert not _sent(recorded, "replSetInitiate")
    assert not _sent(recorded, "createUser")
    assert recorded["state"]["users"] == first["state"]["users"] | {
        "caas-api": {
            "pwd": passwords["caas-api"],
            "roles": [{"role": "caasApi", "db": "admin"}],
        }
    }
    assert recorded["state"]["roles"]["caasApi"]["roles"] == [
        {"role": "readWrite", "db": "caas_platform"}
    ]


def test_a_run_stopped_after_initiating_finishes_the_job(tmp_path: Path) -> None:
    passwords = _passwords()
    state = _fresh() | {
        "initiated": True,
        "config": {"_id": "rs0", "members": [{"host": h} for h in MEMBERS]},
    }
    result, recorded = _run(tmp_path, state, passwords)
    assert result.returncode == 0, result.stderr
    assert "replica set rs0 was initiated" in [c.get("line") for c in recorded["calls"]]
    assert set(recorded["state"]["users"]) == set(passwords)


def test_a_lost_admin_password_stops_with_what_to_do(tmp_path: Path) -> None:
    passwords = _passwords()
    _, first = _run(tmp_path, _fresh(), passwords)
    result, recorded = _run(tmp_path, first["state"], passwords | {ADMIN: "notTheSameOne"})
    assert result.returncode != 0
    assert "delete the cluster (hack/kind/down.sh)" in result.stderr
    assert recorded["state"]["users"] == first["state"]["users"]  # nothing changed


def test_a_password_that_could_break_the_script_is_refused() -> None:
    result = subprocess.run(
        [str(KIND / "mongodb-init-script.sh"), ADMIN, *MEMBERS],
        input='caas-api pw"; db.dropDatabase(); "\n',
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode != 0
    assert "letters and digits" in result.stderr


# --- up.sh agrees with platform-users.json and the chart ------------------------------------


def test_up_sh_users_are_the_admin_and_the_platform_users() -> None:
    match = re.search(r'^mongodb_users=\("\$mongodb_admin" ([^)]*)\)$', UP.read_text(), re.M)
    assert match, "up.sh no longer declares mongodb_users as expected"
    assert match.group(1).split() == [u["name"] for u in _platform_users()["users"]]
    assert re.search(rf'^mongodb_admin="{ADMIN}"$', UP.read_text(), re.M)


def test_up_sh_gives_each_application_its_own_users_uri() -> None:
    text = UP.read_text()
    for user in _platform_users()["users"]:
        # CAAS_OPERATOR_MONGODB_URI (the local stack's name) is OPERATOR_MONGODB_URI in the
        # chart's backends Secret.
        key = user["env"].removeprefix("CAAS_")
        variable = key.lower()
        assert f'{variable}="$(mongodb_uri {user["name"]})"' in text
        assert f'--from-literal={key}="${variable}"' in text
    assert "replicaSet=rs0&authSource=admin" in text
    assert "--set operator.kafkaReplicationFactor=3" in text
