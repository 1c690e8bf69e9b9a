#!/usr/bin/env bash
# A single-machine OpenStack on 127.0.0.1 whose nova-compute runs the
# PowerVM driver against the PowerVM REST API simulator.
#
#   tools/aio.sh up [--hosts N]   install (first time) and start everything
#   tools/aio.sh down             stop everything (logs are kept)
#   tools/aio.sh status           what runs, and the endpoints' health
#   tools/aio.sh tempest [REGEX]  run Tempest (default tempest.api.compute)
#
# Run as root on Debian 12 (apt: MariaDB, RabbitMQ; PyPI: the services).
# Everything lives under $AIO_DIR (default /opt/nova-powervm-aio): venv/,
# etc/, logs/, run/ (pid files), state/, tempest/.  Only loopback is
# listened on (127.0.0.1; each nova-compute's consoles on 127.0.0.1N:5901).
# See doc/source/aio.rst.
set -eEuo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
AIO_DIR=${AIO_DIR:-/opt/nova-powervm-aio}
VENV=$AIO_DIR/venv
ETC=$AIO_DIR/etc
LOGS=$AIO_DIR/logs
RUN=$AIO_DIR/run
STATE=$AIO_DIR/state
BIN=$VENV/bin
export ERL_EPMD_ADDRESS=127.0.0.1   # RabbitMQ's port mapper: loopback only
NOVNC_WEB=$STATE/novnc/usr/share/novnc   # aio_conf.py's novnc_dir
IP=127.0.0.1
REGION=RegionOne
SIM_PORT=12080
NOVNC_PORT=6080
VNC_PORT=5901     # pypowervm's console listener, one per nova-compute
# service name -> port (uwsgi APIs, simulator, MariaDB, RabbitMQ)
declare -A PORTS=([keystone]=5000 [placement]=8778 [glance]=9292
                  [neutron]=9696 [nova-api]=8774 [simulator]=$SIM_PORT
                  [nova-novncproxy]=$NOVNC_PORT
                  [mariadb]=3306 [rabbitmq]=5672)
# junitxml: subunit2junitxml needs it for Tempest's results.xml.
PY_PACKAGES=(nova keystone glance openstack-placement neutron tempest
             python-openstackclient osc-placement PyMySQL uwsgi junitxml)

STARTED=()        # services this run started (stopped again on failure)
CURRENT=""        # the service being brought up, for error messages

# fd 3/4: the terminal's stdout/stderr, also inside a `{ ...; } >> log`
# (the ERR trap runs where the failing command's redirections apply).
exec 3>&1 4>&2
log() { printf '%s aio: %s\n' "$(date +%H:%M:%S)" "$*" >&3; }
die() { printf 'aio: ERROR: %s\n' "$*" >&4; exit 1; }

fail_current() {
    local rc=$?
    trap - ERR
    if [ -n "$CURRENT" ]; then
        printf 'aio: ERROR: %s did not come up (exit %s); see %s\n' \
            "$CURRENT" "$rc" "$LOGS/$CURRENT.log" >&4
        tail -n 15 "$LOGS/$CURRENT.log" 2>/dev/null | sed 's/^/    /' >&4
    fi
    if [ ${#STARTED[@]} -gt 0 ]; then
        printf 'aio: stopping what this run started: %s\n' "${STARTED[*]}" >&4
        stop_all >&3 2>&4
    fi
    exit "$rc"
}

secret() {  # a password kept across runs (service users are not re-made)
    local f=$ETC/secrets/$1
    if [ ! -s "$f" ]; then
        mkdir -p "$ETC/secrets"; chmod 700 "$ETC/secrets"
        (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$f")
    fi
    cat "$f"
}

# ---------------------------------------------------------------- checks
preflight() {
    [ "$(id -u)" -eq 0 ] || die "run as root (apt-get and the services need it)"
    command -v apt-get >/dev/null || die "apt-get is missing: a Debian machine is needed"
    command -v python3.11 >/dev/null || die "python3.11 is missing"
    mkdir -p "$ETC" "$LOGS" "$RUN" "$STATE"
}

# On a machine whose / only root may traverse (mode 0700), a service's own
# user (mysql, rabbitmq) cannot even load libc: MariaDB and RabbitMQ then
# run as root (still on 127.0.0.1 only).
can_run_as() {  # can_run_as USER: USER can run a program here
    setpriv --reuid="$1" --regid="$1" --clear-groups /bin/true 2>/dev/null
}

rabbitmq_as_root() {
    [ -n "${RABBITMQ_ROOT:-}" ] ||
        if can_run_as rabbitmq; then RABBITMQ_ROOT=no; else RABBITMQ_ROOT=yes; fi
    [ "$RABBITMQ_ROOT" = yes ]
}

rabbitmqctl() {  # Debian's wrapper runs it as user rabbitmq (su)
    if rabbitmq_as_root; then
        (cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq \
            /usr/lib/rabbitmq/bin/rabbitmqctl "$@")
    else
        command rabbitmqctl "$@"
    fi
}

pid_alive() {
    if [ "$1" = rabbitmq ]; then   # rabbitmq-server -detached: no pid file
        [ -e "$RUN/rabbitmq.pid.managed" ] && rabbitmqctl -q status >/dev/null 2>&1
        return
    fi
    [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null
}

port_busy() { (exec 3<>"/dev/tcp/${2:-$IP}/$1") 2>/dev/null; }

console_ip() {  # nova-compute N's console listener address (aio_conf.py)
    echo "127.0.0.$((10 + $1))"
}

check_ports() {
    local svc port n
    for svc in "${!PORTS[@]}"; do
        port=${PORTS[$svc]}
        if [ "$svc" = simulator ]; then
            for ((n = 0; n < HOSTS; n++)); do
                if ! pid_alive simulator && port_busy $((port + n)); then
                    die "port $((port + n)) (simulator) is already in use by another program"
                fi
            done
        elif ! pid_alive "$svc" && port_busy "$port"; then
            die "port $port ($svc) is already in use by another program"
        fi
    done
    for ((n = 1; n <= HOSTS; n++)); do
        if ! pid_alive "nova-compute$n" &&
                port_busy $VNC_PORT "$(console_ip $n)"; then
            die "port $(console_ip $n):$VNC_PORT (nova-compute$n's consoles)" \
                "is already in use by another program"
        fi
    done
}

# --------------------------------------------------------------- install
install_packages() {
    local missing=()
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
    command -v curl >/dev/null || missing+=(curl)         # health checks
    command -v genisoimage >/dev/null || missing+=(genisoimage)  # config drive
    command -v gcc >/dev/null || missing+=(gcc)           # pip builds uwsgi
    if [ ${#missing[@]} -gt 0 ] || [ ! -e "$NOVNC_WEB/vnc_lite.html" ]; then
        CURRENT=apt; log "apt-get update"
        apt-get update -q > "$LOGS/apt.log" 2>&1
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        CURRENT=apt; log "apt-get install ${missing[*]}"
        # The packages must not start their own daemons (aio.sh starts them
        # on 127.0.0.1 only): deny invoke-rc.d for the install.
        local deny=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d; deny=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}" >> "$LOGS/apt.log" 2>&1 ||
            { [ -z "$deny" ] || rm -f /usr/sbin/policy-rc.d; false; }
        [ -z "$deny" ] || rm -f /usr/sbin/policy-rc.d
    fi
    if [ ! -e "$NOVNC_WEB/vnc_lite.html" ]; then
        # noVNC's pages for nova-novncproxy: only the files of Debian's
        # package (installing it would pull in nodejs and system Python
        # packages the deployment does not use).
        CURRENT=apt; log "noVNC pages from Debian's novnc package"
        local tmp; tmp=$(mktemp -d)
        chmod 755 "$tmp"    # apt-get download runs as _apt
        { (cd "$tmp" && apt-get download novnc) &&
          rm -rf "$STATE/novnc" &&
          dpkg-deb -x "$tmp"/novnc_*.deb "$STATE/novnc"; } >> "$LOGS/apt.log" 2>&1 ||
            { rm -rf "$tmp"; false; }
        rm -rf "$tmp"
        [ -e "$NOVNC_WEB/vnc_lite.html" ]
    fi
    if [ ! -x "$BIN/uwsgi" ] || [ ! -x "$BIN/tempest" ]; then
        CURRENT=pip; log "creating $VENV (about 3 minutes)"
        { python3.11 -m venv "$VENV" && "$BIN/pip" install -U pip setuptools wheel &&
          "$BIN/pip" install "${PY_PACKAGES[@]}"; } > "$LOGS/pip.log" 2>&1
    fi
    CURRENT=pip; log "installing nova-powervm from $HERE"
    rm -rf "$HERE/build"
    { "$BIN/pip" install -r "$HERE/requirements.txt" junitxml &&
      "$BIN/pip" install --no-deps --force-reinstall "$HERE"; } >> "$LOGS/pip.log" 2>&1
    rm -rf "$HERE/build" "$HERE"/*.egg-info
    CURRENT=""
}

# ---------------------------------------------------------------- helpers
wait_for() {  # wait_for NAME SECONDS COMMAND...
    local name=$1 secs=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ! pid_alive "$name" && [ -e "$RUN/$name.pid" ]; then
            log "$name exited"; return 1
        fi
        [ $SECONDS -lt $end ] || { log "$name: not healthy after ${secs}s"; return 1; }
        sleep 1
    done
}

spawn() {  # spawn NAME COMMAND... : background process with pid file, log
    local name=$1; shift
    if pid_alive "$name"; then return 0; fi
    CURRENT=$name
    stat -c %s "$LOGS/$name.log" > "$RUN/$name.logpos" 2>/dev/null ||
        echo 0 > "$RUN/$name.logpos"
    # Its own process group (setsid): stop_all ends the workers too.
    setsid nohup "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$name.pid"
    STARTED+=("$name")
}

uwsgi_app() {  # uwsgi_app NAME PORT MODULE PROCESSES [ENV=VAL...]
    local name=$1 port=$2 module=$3 procs=$4; shift 4
    local envs=() e
    for e in "$@"; do envs+=(--env "$e"); done
    spawn "$name" "$BIN/uwsgi" --master --die-on-term --need-app \
        --http-socket "$IP:$port" --module "$module:application" \
        --processes "$procs" --threads 1 --enable-threads --lazy-apps \
        --add-header "Connection: close" --buffer-size 65535 \
        --chunked-input-limit 16777216 \
        --hook-master-start "unix_signal:15 gracefully_kill_them_all" \
        "${envs[@]}"
    # --chunked-input-limit: glanceclient sends 1 MiB chunks (nova's
    # snapshot upload), uwsgi's default limit refuses them ("unable to
    # receive chunked part", HTTP 500).
    # nova's API connects to its databases while loading: minutes when busy.
    wait_for "$name" "${AIO_API_WAIT:-600}" curl -sf -o /dev/null "http://$IP:$port/"
    CURRENT=""
}

curl() { command curl -m 10 "$@"; }

os_admin() {
    OS_AUTH_URL=http://$IP:5000/v3 OS_USERNAME=admin OS_PASSWORD=$(secret admin) \
    OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
    OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 \
    OS_REGION_NAME=$REGION "$BIN/openstack" "$@"
}

db_url() { echo "mysql+pymysql://aio:$(secret db)@$IP/$1?charset=utf8"; }

# --------------------------------------------------------------- services
start_mariadb() {
    log "starting mariadb"
    if ! pid_alive mariadb; then
        local user=mysql
        if ! can_run_as mysql; then
            user=root; log "mariadb runs as root: user mysql cannot run programs here"
        fi
        mkdir -p /run/mysqld; chown "$user:$user" /run/mysqld
        spawn mariadb /usr/sbin/mariadbd --user=$user --bind-address=$IP \
            --port=3306 --skip-name-resolve --max-connections=500
    fi
    CURRENT=mariadb
    wait_for mariadb 60 mariadb-admin --protocol=socket ping
    local db pw dbs=(keystone placement glance neutron nova_api nova nova_cell0)
    pw=$(secret db)
    if [ ! -e "$STATE/databases" ]; then
        # A new $AIO_DIR (new passwords): databases left by an earlier one
        # hold its users, cell mappings (with its DB password) and servers.
        log "new deployment: dropping and re-creating its databases"
        for db in "${dbs[@]}"; do
            mariadb --protocol=socket -e "DROP DATABASE IF EXISTS $db"
        done
    fi
    for db in "${dbs[@]}"; do
        mariadb --protocol=socket -e "CREATE DATABASE IF NOT EXISTS $db"
    done
    touch "$STATE/databases"
    mariadb --protocol=socket -e "CREATE USER IF NOT EXISTS 'aio'@'$IP' \
        IDENTIFIED BY '$pw'; ALTER USER 'aio'@'$IP' IDENTIFIED BY '$pw'; \
        GRANT ALL ON *.* TO 'aio'@'$IP'; FLUSH PRIVILEGES"
    CURRENT=""
}

start_rabbitmq() {
    log "starting rabbitmq"
    CURRENT=rabbitmq
    if ! rabbitmqctl -q status >/dev/null 2>&1; then
        # Erlang's port mapper (epmd, started with the node) and the node's
        # distribution port listen on every interface unless told.
        export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {${IP//./,}}"
        # Its own logs stay in /var/log/rabbitmq (it runs as user rabbitmq).
        if rabbitmq_as_root; then
            log "rabbitmq runs as root: user rabbitmq cannot run programs here"
            (cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq \
                RABBITMQ_NODE_IP_ADDRESS=$IP /usr/lib/rabbitmq/bin/rabbitmq-server \
                -detached) >> "$LOGS/rabbitmq.log" 2>&1
        else
            RABBITMQ_NODE_IP_ADDRESS=$IP \
                rabbitmq-server -detached >> "$LOGS/rabbitmq.log" 2>&1
        fi
        STARTED+=(rabbitmq)
    fi
    echo "rabbitmq" > "$RUN/rabbitmq.pid.managed"
    local end=$((SECONDS + 240))   # rabbitmqctl alone takes seconds
    until rabbitmqctl -q status >> "$LOGS/rabbitmq.log" 2>&1; do
        [ $SECONDS -lt $end ] || return 1; sleep 1
    done
    rabbitmqctl -q add_user aio "$(secret rabbit)" >/dev/null 2>&1 ||
        rabbitmqctl -q change_password aio "$(secret rabbit)" >/dev/null
    rabbitmqctl -q set_permissions aio '.*' '.*' '.*' >/dev/null
    CURRENT=""
}

start_simulator() {
    log "starting powervm-simulator --hosts $HOSTS"
    spawn simulator "$BIN/powervm-simulator" --host $IP --port $SIM_PORT \
        --hosts "$HOSTS" --state-dir "$STATE/simulator" \
        --event-hold 5 --mgmt-disk-dir "$STATE/mgmt-disks" --guest-rmc
    local n
    for ((n = 0; n < HOSTS; n++)); do
        wait_for simulator 60 curl -s -o /dev/null \
            "http://$IP:$((SIM_PORT + n))/rest/api/web/Logon"
    done
    for ((n = 1; n <= HOSTS; n++)); do write_vterm_cmds "$n"; done
    CURRENT=""
}

sim_state_dir() {  # the simulator's directory of host N (1-based)
    if [ "$HOSTS" -gt 1 ]; then echo "$STATE/simulator/host$(($1 - 1))"
    else echo "$STATE/simulator"; fi
}

# What pypowervm runs on NovaLink to open and close a partition's console
# (mkvterm --vnc --local, rmvterm), for nova-compute N: the simulator's
# front end (nova_powervm.simulator.vterm_cmd) calling host N's mkvterm /
# rmvterm controls through its admin API (loopback, token file).  First on
# nova-compute N's PATH.
write_vterm_cmds() {
    local n=$1 d=$STATE/vterm/pvm$1 cmd
    mkdir -p "$d"
    for cmd in mkvterm rmvterm; do
        cat > "$d/$cmd" <<EOF
#!/bin/sh
POWERVM_SIM_URL=http://$IP:$((SIM_PORT + n - 1)) \\
POWERVM_SIM_ADMIN_TOKEN_FILE=$(sim_state_dir "$n")/admin-token \\
    exec $BIN/python -m nova_powervm.simulator.vterm_cmd $cmd "\$@"
EOF
        chmod 700 "$d/$cmd"
    done
}

start_keystone() {
    log "starting keystone"
    "$BIN/python" "$HERE/tools/aio_conf.py" keystone "$ETC" "$STATE"
    CURRENT=keystone
    local kc=(--config-file "$ETC/keystone/keystone.conf")
    "$BIN/keystone-manage" "${kc[@]}" db_sync >> "$LOGS/keystone.log" 2>&1
    mkdir -p "$ETC/keystone/fernet-keys" "$ETC/keystone/credential-keys"
    [ -s "$ETC/keystone/fernet-keys/0" ] ||
        "$BIN/keystone-manage" "${kc[@]}" fernet_setup --keystone-user root \
            --keystone-group root >> "$LOGS/keystone.log" 2>&1
    [ -s "$ETC/keystone/credential-keys/0" ] ||
        "$BIN/keystone-manage" "${kc[@]}" credential_setup --keystone-user root \
            --keystone-group root >> "$LOGS/keystone.log" 2>&1
    "$BIN/keystone-manage" "${kc[@]}" bootstrap --bootstrap-password "$(secret admin)" \
        --bootstrap-admin-url "http://$IP:5000/v3" \
        --bootstrap-internal-url "http://$IP:5000/v3" \
        --bootstrap-public-url "http://$IP:5000/v3" \
        --bootstrap-region-id $REGION >> "$LOGS/keystone.log" 2>&1
    uwsgi_app keystone 5000 keystone.wsgi.api 2 \
        "OS_KEYSTONE_CONFIG_DIR=$ETC/keystone"
}

aio_api() {  # aio_api NAME COMMAND [ARGS...]: tools/aio_resources.py, to NAME's log
    CURRENT=$1; local cmd=$2; shift 2
    "$BIN/python" "$HERE/tools/aio_resources.py" "$cmd" "$AIO_DIR" "$@" \
        >> "$LOGS/$CURRENT.log" 2>&1
    CURRENT=""
}

start_placement() {
    log "starting placement"
    "$BIN/python" "$HERE/tools/aio_conf.py" placement "$ETC" "$STATE"
    CURRENT=placement
    "$BIN/placement-manage" --config-file "$ETC/placement/placement.conf" \
        db sync >> "$LOGS/placement.log" 2>&1
    uwsgi_app placement 8778 placement.wsgi.api 1 \
        "OS_PLACEMENT_CONFIG_DIR=$ETC/placement"
}

start_glance() {
    log "starting glance"
    "$BIN/python" "$HERE/tools/aio_conf.py" glance "$ETC" "$STATE"
    CURRENT=glance
    "$BIN/glance-manage" --config-file "$ETC/glance/glance-api.conf" \
        db_sync >> "$LOGS/glance.log" 2>&1
    uwsgi_app glance 9292 glance.wsgi.api 1 "OS_GLANCE_CONFIG_DIR=$ETC/glance"
}

start_neutron() {
    log "starting neutron API (ML2 pvm_sea)"
    "$BIN/python" "$HERE/tools/aio_conf.py" neutron "$ETC" "$STATE"
    CURRENT=neutron
    "$BIN/neutron-db-manage" --config-file "$ETC/neutron/neutron.conf" \
        --config-file "$ETC/neutron/ml2_conf.ini" upgrade heads \
        >> "$LOGS/neutron.log" 2>&1
    uwsgi_app neutron 9696 neutron.wsgi.api 1 \
        "OS_NEUTRON_CONFIG_FILES=$ETC/neutron/neutron.conf;$ETC/neutron/ml2_conf.ini"
}

start_nova() {
    log "starting nova API, conductor, scheduler, compute"
    "$BIN/python" "$HERE/tools/aio_conf.py" nova "$ETC" "$STATE"
    local nc=(--config-file "$ETC/nova/nova.conf") n cells
    CURRENT=nova-api
    {
        "$BIN/nova-manage" "${nc[@]}" api_db sync
        "$BIN/nova-manage" "${nc[@]}" cell_v2 map_cell0 \
            --database_connection "$(db_url nova_cell0)"
        # Not `list_cells | grep -q`: grep's early exit fails the pipe.
        cells=$("$BIN/nova-manage" "${nc[@]}" cell_v2 list_cells)
        [[ "$cells" == *" cell1 "* ]] ||
            "$BIN/nova-manage" "${nc[@]}" cell_v2 create_cell --name cell1
        "$BIN/nova-manage" "${nc[@]}" db sync
    } >> "$LOGS/nova-api.log" 2>&1
    uwsgi_app nova-api 8774 nova.wsgi.osapi_compute 2 \
        "OS_NOVA_CONFIG_DIR=$ETC/nova"
    spawn nova-conductor "$BIN/nova-conductor" "${nc[@]}"
    spawn nova-scheduler "$BIN/nova-scheduler" "${nc[@]}"
    for ((n = 1; n <= HOSTS; n++)); do
        spawn "nova-compute$n" env "PATH=$STATE/vterm/pvm$n:$PATH" \
            "$BIN/nova-compute" "${nc[@]}" \
            --config-file "$ETC/nova/compute$n.conf"
    done
    log "waiting for $HOSTS nova-compute service(s)"
    aio_api nova-compute1 wait-computes "$HOSTS" 300
    CURRENT=nova-api
    "$BIN/nova-manage" "${nc[@]}" cell_v2 discover_hosts >> "$LOGS/nova-api.log" 2>&1
    log "starting nova-novncproxy"
    spawn nova-novncproxy "$BIN/nova-novncproxy" "${nc[@]}"
    wait_for nova-novncproxy 120 curl -sf -o /dev/null \
        "http://$IP:$NOVNC_PORT/vnc_lite.html"
    CURRENT=""
}

start_sea_agents() {  # neutron's RPC server, a PowerVM SEA agent per host
    log "starting neutron RPC server and $HOSTS PowerVM SEA agent(s)"
    "$BIN/python" "$HERE/tools/aio_conf.py" sea_agent "$ETC" "$STATE"
    spawn neutron-rpc "$BIN/neutron-rpc-server" \
        --config-file "$ETC/neutron/neutron.conf" \
        --config-file "$ETC/neutron/ml2_conf.ini" \
        --config-file "$ETC/neutron/rpc_server.conf"
    # An agent's first state report sent before the server consumes is
    # lost (a 60 s RPC timeout, then neutron-lib's back-off).
    wait_for neutron-rpc 120 rpc_consuming
    local n
    for ((n = 1; n <= HOSTS; n++)); do
        spawn "sea-agent$n" "$BIN/nova-powervm-sea-agent" \
            --config-file "$ETC/nova/nova.conf" \
            --config-file "$ETC/nova/compute$n.conf" \
            --config-file "$ETC/nova/sea_agent$n.conf"
    done
    for ((n = 1; n <= HOSTS; n++)); do   # pvm_sea binds only with it alive
        CURRENT=sea-agent$n
        wait_for "sea-agent$n" 180 sea_agent_alive "pvm$n"
    done
    CURRENT=""
}

rpc_consuming() {  # neutron-rpc-server consumes agents' state reports
    local q; q=$(rabbitmqctl -q list_queues name consumers)
    [[ "$q" =~ (^|$'\n')q-reports-plugin[[:space:]]+[1-9] ]]
}

sea_agent_alive() {  # sea_agent_alive HOST: neutron lists its agent alive
    local out
    # The client prints Alive before Binary, whatever the -c order.
    out=$(os_admin network agent list --host "$1" -f value -c Alive -c Binary)
    [[ "$out" =~ (True|:-\))\ nova-powervm-sea-agent ]]
}

write_openrc() {
    cat > "$AIO_DIR/openrc" <<EOF
export OS_AUTH_URL=http://$IP:5000/v3 OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin OS_PASSWORD=$(secret admin) OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION PATH=$BIN:\$PATH
EOF
    chmod 600 "$AIO_DIR/openrc"
}

stop_group() {  # stop_group PIDFILE...: TERM each process group, then KILL
    local f name pid
    for f in "$@"; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .pid); pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping $name ($pid)"
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for f in "$@"; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$f" "${f%.pid}.logpos"
    done
}

stop_all() {  # the services first, then what they use (MariaDB, RabbitMQ)
    local f svcs=()
    for f in "$RUN"/*.pid; do
        [ "$f" = "$RUN/mariadb.pid" ] || svcs+=("$f")
    done
    stop_group "${svcs[@]}"
    stop_group "$RUN/mariadb.pid"
    if [ -e "$RUN/rabbitmq.pid.managed" ]; then
        log "stopping rabbitmq"
        rabbitmqctl -q stop >/dev/null 2>&1 || true
        rm -f "$RUN/rabbitmq.pid.managed"
        # The port mapper it started, unless another Erlang node uses it.
        local names
        if command -v epmd >/dev/null; then
            names=$(epmd -names 2>/dev/null || true)
            [[ "$names" == *$'\nname '* ]] || epmd -kill >/dev/null 2>&1 || true
        fi
    fi
}

status() {
    local f name
    for f in "$RUN"/*.pid; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .pid)
        if pid_alive "$name"; then echo "running  $name (pid $(cat "$f"))"
        else echo "DEAD     $name (log: $LOGS/$name.log)"; fi
    done
    if [ -e "$RUN/rabbitmq.pid.managed" ]; then
        if pid_alive rabbitmq; then echo "running  rabbitmq"
        else echo "DEAD     rabbitmq (log: $LOGS)"; fi
    fi
    if [ -x "$BIN/openstack" ] && [ -e "$AIO_DIR/openrc" ]; then
        os_admin compute service list 2>/dev/null || true
    fi
}

usage_text() {
    cat <<EOF

The all-in-one deployment is up (nova-compute x$HOSTS on the PowerVM driver,
PowerVM simulator on $IP:$SIM_PORT).  Logs: $LOGS

    source $AIO_DIR/openrc
    openstack server create --flavor m1.pvm --image aio-raw \\
        --network private --wait vm1
    openstack server list
    openstack console url show --novnc vm1   # through nova-novncproxy
    tools/aio.sh tempest                 # Tempest, tempest.api.compute
    tools/aio.sh down                    # stop all (logs kept)
EOF
}

up() {
    preflight
    check_ports
    trap fail_current ERR
    install_packages
    echo "$HOSTS" > "$ETC/hosts"
    start_mariadb
    start_rabbitmq
    start_simulator
    start_keystone
    write_openrc
    log "keystone: service project, users, endpoints"
    aio_api keystone identity
    start_placement
    start_glance
    start_neutron
    start_nova
    start_sea_agents
    log "flavors, image, networks, router"
    aio_api neutron resources
    trap - ERR
    usage_text
}

HOSTS=1
cmd=${1:-}; shift || true
case "$cmd" in
    up)
        while [ $# -gt 0 ]; do
            case "$1" in
                --hosts) HOSTS=${2:?--hosts needs a number}; shift 2 ;;
                *) die "unknown option $1" ;;
            esac
        done
        [[ "$HOSTS" =~ ^[12]$ ]] || die "--hosts must be 1 or 2"
        start=$SECONDS
        up
        log "up in $((SECONDS - start)) s"
        ;;
    down) preflight; stop_all; log "stopped; logs kept in $LOGS" ;;
    status) status ;;
    tempest)
        [ -s "$ETC/hosts" ] && HOSTS=$(cat "$ETC/hosts")
        exec bash "$HERE/tools/aio_tempest.sh" "$AIO_DIR" "$HOSTS" "${1:-}" ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
esac
