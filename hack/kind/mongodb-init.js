// The kind path's MongoDB replica set and users, run by hack/kind/up.sh inside mongodb-0 with
// `mongosh --nodb`. up.sh prepends a prelude that defines:
//   platformUsers  the roles and users of hack/stack/mongodb/platform-users.json (the one
//                  definition the local stack and docs/mongodb-users.md use too)
//   passwords      {user: password} from the Secret mongodb-users
//   adminUser      the administrator (role root), made first
//   members        host:port of each member, mongodb-0 first
// Idempotent: re-running it initiates nothing twice, and it brings the roles and users back in
// line with the file and the Secret.

/* global platformUsers, passwords, adminUser, members, Mongo, sleep, print */

const SET = "rs0";
const LOCAL = "mongodb://127.0.0.1:27017/?directConnection=true";
const ALREADY_INITIALIZED = 23;
const UNAUTHORIZED = 13;

function waitFor(what, check, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  for (;;) {
    try {
      if (check()) return;
    } catch (error) {
      last = `: ${error.message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}${last}`);
    sleep(1000);
  }
}

// db.runCommand may answer {ok: 0} or throw, depending on the error; both end up here.
function command(database, cmd, acceptedCodes = []) {
  let result;
  try {
    result = database.runCommand(cmd);
  } catch (error) {
    if (acceptedCodes.includes(error.code)) return { ok: 0, code: error.code };
    throw error;
  }
  if (!result.ok && !acceptedCodes.includes(result.code)) {
    throw new Error(`${Object.keys(cmd)[0]} failed: ${result.errmsg} (${result.codeName})`);
  }
  return result;
}

// mongosh throws when authentication fails; the legacy shell answered 0. Either means no.
function signedIn(database) {
  try {
    const answer = database.auth(adminUser, passwords[adminUser]);
    return answer === 1 || Boolean(answer && answer.ok);
  } catch (error) {
    return false;
  }
}

// 1. On the first run nobody can sign in. The localhost exception of a server with no user at
//    all lets this loopback connection initiate the set and create the administrator, on the
//    primary, which mongodb-0 becomes (it has the highest priority).
const local = new Mongo(LOCAL).getDB("admin");
if (!signedIn(local)) {
  const config = {
    _id: SET,
    members: members.map((host, i) => ({ _id: i, host, priority: i === 0 ? 2 : 1 })),
  };
  const lockedOut = new Error(
    `users exist but ${adminUser}'s password is not the one in Secret mongodb-users; ` +
      "delete the cluster (hack/kind/down.sh) and run up.sh again",
  );
  // Unauthorized: users exist already, so the localhost exception is closed.
  const initiated = command(local, { replSetInitiate: config }, [ALREADY_INITIALIZED, UNAUTHORIZED]);
  if (initiated.code === UNAUTHORIZED) throw lockedOut;
  print(initiated.ok ? `initiated replica set ${SET}` : `replica set ${SET} was initiated`);
  // The first user can only be made once a primary is elected.
  waitFor("mongodb-0 to become the primary", () => local.runCommand({ hello: 1 }).isWritablePrimary, 180);
  const made = command(
    local,
    { createUser: adminUser, pwd: passwords[adminUser], roles: ["root"] },
    [UNAUTHORIZED],
  );
  if (!made.ok) throw lockedOut;
  print(`created the administrator ${adminUser}`);
}

// 2. As the administrator, through the replica set (whichever member is primary now).
const uri =
  `mongodb://${encodeURIComponent(adminUser)}:${encodeURIComponent(passwords[adminUser])}@` +
  `${members.join(",")}/admin?replicaSet=${SET}&authSource=admin`;
const admin = new Mongo(uri).getDB("admin");
waitFor(
  `all ${members.length} members healthy`,
  () =>
    command(admin, { replSetGetStatus: 1 }).members.filter(
      (m) => m.health === 1 && ["PRIMARY", "SECONDARY"].includes(m.stateStr),
    ).length === members.length,
  300,
);

for (const role of platformUsers.roles) {
  const found = command(admin, { rolesInfo: role.role }).roles.length > 0;
  const verb = found ? "updateRole" : "createRole";
  command(admin, { [verb]: role.role, privileges: role.privileges, roles: role.roles });
  print(`${found ? "updated" : "created"} role ${role.role}`);
}
for (const user of platformUsers.users) {
  if (!passwords[user.name]) throw new Error(`no password for ${user.name} in Secret mongodb-users`);
  const found = command(admin, { usersInfo: user.name }).users.length > 0;
  const verb = found ? "updateUser" : "createUser";
  command(admin, { [verb]: user.name, pwd: passwords[user.name], roles: user.roles });
  print(`${found ? "updated" : "created"} user ${user.name}`);
}
