-- Forward-auth for HAProxy (SPEC §10, §15), which has none built in: the smallest helper that
-- works, on HAProxy's own Lua and its built-in HTTP client (HAProxy 2.5 and later, built with
-- Lua, as Debian's package is); no other library. Loaded by deploy/haproxy.cfg, which shows
-- how it is used; tests/api/proxies.rs runs both against a real HAProxy.
--
--   http-request lua.deadbolt_authz http://DEADBOLT WORKSPACE
--
-- asks DEADBOLT's /api/v1/authz?workspace=WORKSPACE&redirect=true with the request's
-- credentials (Cookie, Authorization) and where it was going (X-Original-URL), and leaves
-- the answer in variables for the configuration to act on:
--   txn.deadbolt_status    the answer's status (200 in, 302 or 401 not signed in, 403
--                          refused; 503 when Deadbolt could not be asked)
--   txn.deadbolt_location  where to sign in (302 and 401)
--   txn.deadbolt_user, txn.deadbolt_email, txn.deadbolt_role, txn.deadbolt_access,
--   txn.deadbolt_deadline  the identity headers of a 200

-- The request headers Deadbolt's answer depends on.
local FORWARDED = { "cookie", "authorization", "accept", "user-agent" }

-- The answer headers kept, by variable.
local KEPT = {
    deadbolt_location = "location",
    deadbolt_user = "remote-user",
    deadbolt_email = "remote-email",
    deadbolt_role = "remote-workspace-role",
    deadbolt_access = "deadbolt-access",
    deadbolt_deadline = "deadbolt-deadline",
}

-- The first value of a header as HAProxy's Lua gives it (a list indexed from 0).
local function first(values)
    if type(values) == "table" then
        return values[0] or values[1]
    end
    return values
end

core.register_action("deadbolt_authz", { "http-req" }, function(txn, base, workspace)
    local incoming = txn.http:req_get_headers()
    local headers = {}
    for _, name in ipairs(FORWARDED) do
        local value = first(incoming[name])
        if value then
            headers[name] = { value }
        end
    end
    -- A boolean sample comes as a number or a boolean (and 0 is true in Lua).
    local tls = txn.f:ssl_fc()
    local scheme = (tls == true or tls == 1) and "https" or "http"
    local host = first(incoming["host"]) or ""
    headers["x-original-url"] = { scheme .. "://" .. host .. txn.f:pathq() }
    headers["x-forwarded-for"] = { txn.f:src() }
    local response = core.httpclient():get({
        url = base .. "/api/v1/authz?workspace=" .. workspace .. "&redirect=true",
        headers = headers,
        timeout = 5000,
    })
    local status = response and tonumber(response.status) or 0
    if status == 0 then
        status = 503
    end
    txn:set_var("txn.deadbolt_status", status)
    for var, name in pairs(KEPT) do
        local value = first((response and response.headers or {})[name])
        if value then
            txn:set_var("txn." .. var, value)
        end
    end
end, 2)
