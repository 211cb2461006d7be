// The command table the CLI loads (oclif's explicit strategy): one bundled file, so start-up reads one module;
// each command imports the heavy core lazily inside run().

import BundleCmd from './commands/bundle.js';
import Images from './commands/images.js';
import Inspect from './commands/inspect.js';
import Login from './commands/login.js';
import Logout from './commands/logout.js';
import Pull from './commands/pull.js';
import Rmi from './commands/rmi.js';
import Tag from './commands/tag.js';
import Unbundle from './commands/unbundle.js';

export const COMMANDS = { bundle: BundleCmd, images: Images, inspect: Inspect, login: Login, logout: Logout, pull: Pull, rmi: Rmi, tag: Tag, unbundle: Unbundle };
