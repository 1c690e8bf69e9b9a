#!/usr/bin/env bash
# shellcheck disable=SC2154   # devstack's globals (NOVA_CONF, ...) are set
#                             # by devstack before it sources this file.
# devstack plugin: nova-compute with the PowerVM driver, the pvm_sea ML2
# mechanism driver in neutron, the PowerVM SEA agent (service pvm-sea-agt),
# optionally the PowerVM REST simulator.

function install_nova_powervm {
    # Editable, as devstack installs nova: the driver loads through the
    # nova_powervm_alias.pth import finder, never a file inside nova.
    setup_develop "$NOVA_POWERVM_DIR"
}

function configure_nova_powervm {
    iniset "$NOVA_CONF" DEFAULT compute_driver powervm.PowerVMDriver
    iniset "$NOVA_CONF" powervm host "$POWERVM_HOST"
    iniset "$NOVA_CONF" powervm port "$POWERVM_PORT"
    iniset "$NOVA_CONF" powervm protocol "$POWERVM_PROTOCOL"
    if [[ -n "$POWERVM_USER" ]]; then
        iniset "$NOVA_CONF" powervm username "$POWERVM_USER"
        iniset "$NOVA_CONF" powervm password "$POWERVM_PASSWORD"
    fi
    iniset "$NOVA_CONF" powervm disk_driver "$POWERVM_DISK_DRIVER"
    # Live Partition Mobility: the target's SEA agent reports a port plugged
    # only once the partition (and its adapters) has moved.
    iniset "$NOVA_CONF" compute live_migration_wait_for_vif_plug False
    if [[ -n "$POWERVM_VOLUME_GROUP" ]]; then
        iniset "$NOVA_CONF" powervm volume_group_name "$POWERVM_VOLUME_GROUP"
    fi
}

function configure_neutron_pvm_sea {
    local ml2_conf="/$Q_PLUGIN_CONF_FILE"
    local drivers
    drivers=$(iniget "$ml2_conf" ml2 mechanism_drivers)
    if [[ ",$drivers," != *",pvm_sea,"* ]]; then
        iniset "$ml2_conf" ml2 mechanism_drivers "${drivers:+$drivers,}pvm_sea"
    fi
    iniset "$ml2_conf" ml2_pvm_sea hosts "$(hostname)"
    iniset "$ml2_conf" securitygroup firewall_driver noop
}

function start_pvm_sea_agent {
    # The L2 agent of this host: puts each port's VLAN on the SEA, then
    # reports the port up.  [powervm] from nova.conf, bus from neutron.conf.
    run_process pvm-sea-agt "$(command -v nova-powervm-sea-agent) \
        --config-file $NOVA_CONF --config-file $NEUTRON_CONF"
}

function start_powervm_simulator {
    run_process powervm-simulator "$(command -v powervm-simulator) \
        --host 127.0.0.1 --port $POWERVM_PORT --hosts $POWERVM_SIMULATOR_HOSTS \
        --username $POWERVM_USER --password $POWERVM_PASSWORD \
        --state-dir $DATA_DIR/powervm-simulator"
    local _
    for _ in $(seq 1 30); do
        if curl -s -o /dev/null "http://127.0.0.1:$POWERVM_PORT/rest/api/web/Logon"; then
            return 0
        fi
        sleep 1
    done
    die $LINENO "powervm-simulator did not answer on port $POWERVM_PORT"
}

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing nova-powervm"
    install_nova_powervm
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring nova-powervm"
    if is_service_enabled n-cpu; then
        configure_nova_powervm
    fi
    if is_service_enabled q-svc neutron-api; then
        configure_neutron_pvm_sea
    fi
    if [[ "$POWERVM_SIMULATOR" == "True" ]] && is_service_enabled n-cpu; then
        mkdir -p "$DATA_DIR/powervm-simulator"
        start_powervm_simulator
    fi
elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    if is_service_enabled pvm-sea-agt; then
        echo_summary "Starting the PowerVM SEA agent"
        start_pvm_sea_agent
    fi
fi

if [[ "$1" == "unstack" ]]; then
    if is_service_enabled pvm-sea-agt; then
        stop_process pvm-sea-agt
    fi
    if [[ "$POWERVM_SIMULATOR" == "True" ]]; then
        stop_process powervm-simulator
    fi
fi
