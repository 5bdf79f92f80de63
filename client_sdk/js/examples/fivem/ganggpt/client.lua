-- GangGPT FiveM client script: passes the player's position to server.js, GangGPT messages to
-- the NUI page, and the NUI page's requests back to server.js. It never talks to GangGPT itself.

local POSITION_EVERY_MS = 200

RegisterNetEvent('ganggpt:nui', function(msg)
  SendNUIMessage(msg)
end)

-- GangGPT refused a move (too fast, out of bounds): put the ped where the server says.
RegisterNetEvent('ganggpt:correct', function(x, y, z, heading)
  local ped = PlayerPedId()
  SetEntityCoords(ped, x, y, z, false, false, false, false)
  SetEntityHeading(ped, heading)
end)

RegisterNUICallback('talk', function(data, cb)
  TriggerServerEvent('ganggpt:talk', tonumber(data.npc), tostring(data.text))
  cb('ok')
end)

RegisterNUICallback('custom', function(data, cb)
  TriggerServerEvent('ganggpt:custom', tostring(data.type), data.data or {})
  cb('ok')
end)

RegisterNUICallback('focus', function(data, cb)
  SetNuiFocus(data.on == true, data.on == true)
  cb('ok')
end)

RegisterCommand('ganggpt', function()
  SetNuiFocus(true, true)
  SendNUIMessage({ type = 'open' })
end, false)

CreateThread(function()
  while true do
    local ped = PlayerPedId()
    local c = GetEntityCoords(ped)
    -- GTA and GangGPT share the heading convention (0 = north, counter-clockwise).
    TriggerServerEvent('ganggpt:pos', c.x, c.y, c.z, GetEntityHeading(ped))
    Wait(POSITION_EVERY_MS)
  end
end)
