// Keep jest's console decoration out of the stdout that command tests capture.
global.console = require('node:console');
