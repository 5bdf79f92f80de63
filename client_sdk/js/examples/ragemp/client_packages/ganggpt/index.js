// GangGPT for RAGE:MP, client side. The CEF page (served from package://, which may open
// ws://) holds the GangGPT connection with the SDK; this script feeds it the local player's
// position and applies what comes back. Load it from client_packages/index.js:
//   require('./ganggpt/index.js');

const browser = mp.browsers.new("package://ganggpt/cef/index.html");
const POSITION_EVERY_MS = 100;

// The server address and the player's name: change to suit (e.g. from a server event).
mp.events.add("browserDomReady", (b) => {
  if (b !== browser) return;
  const name = mp.players.local.name;
  browser.call("ganggpt:start", "ws://127.0.0.1:22005/ws", name);
});

setInterval(() => {
  const p = mp.players.local.position;
  // GTA and GangGPT share the heading convention (0 = north, counter-clockwise).
  browser.call("ganggpt:pos", p.x, p.y, p.z, mp.players.local.getHeading());
}, POSITION_EVERY_MS);

// GangGPT refused a move: put the player where the server says (SPEC §11).
mp.events.add("ganggpt:correct", (x, y, z, heading) => {
  mp.players.local.position = new mp.Vector3(x, y, z);
  mp.players.local.setHeading(heading);
});

// F6 toggles the panel and the cursor.
let open = false;
mp.keys.bind(0x75, true, () => {
  open = !open;
  mp.gui.cursor.show(open, open);
  browser.execute(`document.body.classList.toggle("open", ${open})`);
});
