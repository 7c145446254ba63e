// A UNIX-socket relay for the remote-migration scenarios: accepts one connection on LISTEN,
// connects to TARGET, forwards both ways, and cuts both connections (destroys them, as a
// failed link would) once CUT bytes went from the sender to the receiver.
//   node cut-relay.mjs LISTEN TARGET CUT
import net from 'node:net';
import {unlinkSync} from 'node:fs';

const [listen, target, cutText] = process.argv.slice(2);
const cut = Number(cutText);
try {
  unlinkSync(listen);
} catch {}
const server = net.createServer({pauseOnConnect: true}, (a) => {
  server.close();
  const b = net.connect({path: target}, () => {
    let sent = 0;
    a.on('data', (d) => {
      if (sent + d.length >= cut) {
        b.write(d.subarray(0, Math.max(0, cut - sent)), () => {
          process.stderr.write(`cut-relay: cut after ${cut} bytes\n`);
          a.destroy();
          b.destroy();
          process.exit(0);
        });
        a.pause();
        sent = cut;
        return;
      }
      sent += d.length;
      b.write(d);
    });
    b.on('data', (d) => a.write(d));
    a.resume();
  });
  b.on('error', (e) => {
    process.stderr.write(`cut-relay: ${e.message}\n`);
    process.exit(1);
  });
});
server.listen(listen);
