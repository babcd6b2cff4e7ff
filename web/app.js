// Connection check: opens the WebSocket and shows the server's status message.
const state = document.getElementById('state');
const statusBox = document.getElementById('status');
const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const ws = new WebSocket(`${scheme}//${location.host}/ws`);
ws.onopen = () => { state.textContent = 'open'; };
ws.onclose = (e) => { state.textContent = `closed (${e.code})`; };
ws.onmessage = (e) => {
  const msg = JSON.parse(e.data);
  if (msg.type === 'status') statusBox.textContent = JSON.stringify(msg.content, null, 2);
};
