// The command table the CLI loads (oclif's explicit strategy): one bundled file, so start-up reads one module;
// each command imports the heavy core lazily inside run().

import BundleCmd from './commands/bundle.js';
import Convert from './commands/convert.js';
import Exec from './commands/exec.js';
import Gc from './commands/gc.js';
import Images from './commands/images.js';
import Inspect from './commands/inspect.js';
import Kill from './commands/kill.js';
import Load from './commands/load.js';
import Login from './commands/login.js';
import Logout from './commands/logout.js';
import Logs from './commands/logs.js';
import Ps from './commands/ps.js';
import Pull from './commands/pull.js';
import Rm from './commands/rm.js';
import Rmi from './commands/rmi.js';
import Run from './commands/run.js';
import Save from './commands/save.js';
import Stop from './commands/stop.js';
import SystemDf from './commands/system/df.js';
import Tag from './commands/tag.js';
import Unbundle from './commands/unbundle.js';
import Verify from './commands/verify.js';

export const COMMANDS = {
  bundle: BundleCmd,
  convert: Convert,
  exec: Exec,
  gc: Gc,
  images: Images,
  inspect: Inspect,
  kill: Kill,
  load: Load,
  login: Login,
  logout: Logout,
  logs: Logs,
  ps: Ps,
  pull: Pull,
  rm: Rm,
  rmi: Rmi,
  run: Run,
  save: Save,
  stop: Stop,
  'system:df': SystemDf,
  tag: Tag,
  unbundle: Unbundle,
  verify: Verify,
};
