-- GangGPT for FiveM: the server script holds one GangGPT connection per player (FiveM client
-- scripts have no WebSocket, and an NUI page on https://cfx-nui-... cannot open ws://), and
-- relays NPC dialogue, missions and chat to the player's NUI page.
fx_version 'cerulean'
game 'gta5'

name 'ganggpt'
description 'GangGPT AI NPCs: dialogue and missions relayed from the GangGPT server'
version '0.1.0'

-- server.js runs on FXServer's bundled Node (22 on recent builds, 16 on older ones; the SDK
-- bundle needs ES2020, which both have).
server_script 'server.js'
client_script 'client.lua'

ui_page 'html/index.html'
files { 'html/index.html' }

-- server.cfg:  set ganggpt_url "ws://127.0.0.1:22005/ws"
