"""The words the parser knows: verbs and their synonyms, qualifiers, question words, filler."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What the operator wants done (power verbs first, reads last)."""

    START = "start"
    STOP = "stop"  # hard stop, like pulling the plug
    SHUTDOWN = "shutdown"  # graceful
    REBOOT = "reboot"
    RESET = "reset"
    SUSPEND = "suspend"
    RESUME = "resume"
    WAKE = "wake"
    PING = "ping"
    LOGS = "logs"
    UPDATES = "updates"
    RUN = "run"
    STATUS = "status"
    LIST = "list"


POWER = frozenset({Action.START, Action.STOP, Action.SHUTDOWN, Action.REBOOT, Action.RESET, Action.SUSPEND,
                   Action.RESUME, Action.WAKE})
# When a sentence holds several verbs, the highest wins ("check the logs" is LOGS, not STATUS).
PRIORITY = {
    **{a: 5 for a in POWER}, Action.LOGS: 4, Action.UPDATES: 4, Action.PING: 4, Action.RUN: 3,
    Action.STATUS: 2, Action.LIST: 1,
}

# Tag kinds
VERB, QUAL, QUANT, NEG, PREP, METRIC, STATE, QWORD, AUX, COUNT, RANK, WHERE, HELP, HYPO, FILLER, CONJ, PRON = (
    "verb", "qual", "quant", "neg", "prep", "metric", "state", "qword", "aux", "count", "rank", "where", "help",
    "hypo", "filler", "conj", "pron",
)
MOD, TOPIC, ENSURE, PAST, SCHEDULE, UNSUPPORTED, FREE = (
    "mod", "topic", "ensure", "past", "schedule", "unsupported", "free")

_VERBS: dict[Action, str] = {
    Action.START: "start|start up|startup|boot|boot up|power on|power up|poweron|turn on|switch on|bring up|"
    "bring online|bring back|bring back up|bring back online|spin up|fire up|launch|kick off|put online|"
    "get going|get up|get running|get started|crank up|light up",
    Action.STOP: "stop|halt|kill|power off|poweroff|pull the plug|pull the plug on|pull plug|force off|force stop|"
    "hard stop|force shutdown|force shut down|force power off|cut power|cut the power|cut power to|yank|"
    "terminate|stop immediately|kill off",
    Action.SHUTDOWN: "shut down|shutdown|shut off|shutoff|turn off|switch off|power down|powerdown|bring down|"
    "take down|take offline|put offline|gracefully stop|stop gracefully|graceful stop|graceful shutdown|"
    "clean shutdown|shut it down|cleanly stop|stop cleanly|acpi shutdown|shut",
    Action.REBOOT: "restart|reboot|bounce|cycle|power cycle|powercycle|recycle|re-start|re-boot|kick|reboot up|"
    "restart up|soft reboot|soft restart|rebooting|restarting",
    Action.RESET: "reset|hard reset|hard reboot|force reboot|force restart|hard restart|hardreset|press reset",
    Action.SUSPEND: "suspend|pause|freeze|hibernate|put to sleep|sleep",
    Action.RESUME: "resume|unpause|un-pause|unfreeze|thaw|continue|unsuspend|un-suspend|wake from pause",
    Action.WAKE: "wake|wake up|wakeup|wol|wake on lan|wake-on-lan|wakeonlan|magic packet|send magic packet|"
    "send a magic packet|send a magic packet to|send magic packet to|send wol|send wol to|send a wol|"
    "send wake on lan|send wake-on-lan",
    Action.PING: "ping|reachable|reach|pingable|responding|respond|responds|answering|reachability|ping test|"
    "connectivity|unreachable|check connectivity",
    Action.LOGS: "logs|log|tail|log output|last lines|console output|output of|stdout|logfile",
    Action.UPDATES: "updates|update|upgrades|upgrade|upgradable|upgradeable|patches|patch level|up to date|"
    "up-to-date|outdated|apt|pending updates|package updates|security updates|apt upgrade|apt update",
    Action.RUN: "run|execute|exec|run command|run the command|execute command|execute the command|invoke",
    Action.STATUS: "status|details|detail|info|information|describe|inspect|stats|statistics|check on|check|"
    "look at|state|health check|healthcheck",
    Action.LIST: "list|ls|show|display|enumerate|show me|give me|tell me|get|what are|overview of",
}

_QUALIFIERS: dict[str, str] = {
    "qemu": "vm|vms|virtual machine|virtual machines|qemu|kvm|virtual machine named",
    "lxc": "ct|cts|lxc|lxcs|linux container|linux containers|lxc container|lxc containers|lxc ct",
    "container": "container|containers",
    "docker": "docker|docker container|docker containers|dockers|docker app",
    "guest": "guest|guests|instance|instances|workload|workloads|vm or ct|vms and cts|vms and containers",
    "node": "node|nodes|hypervisor|hypervisors|pve node|proxmox node|pve host|proxmox host|pve|proxmox|"
    "cluster node|cluster nodes|pve nodes|proxmox nodes|physical host|physical hosts",
    "host": "host|hosts|machine on the network|device|devices",
    "service": "service|services|daemon|daemons|unit|systemd unit|systemd service",
    "storage": "storage|storages|datastore|datastores|storage pool|storage pools|disks|volume|volumes",
}

_WORDS: dict[str, dict[str, str]] = {
    QUANT: {"all": "all|every|everything|each|all of them|entire|whole|everyone|all the|every single|"
            "the lot|everywhere|on all|across all|any of the", "both": "both|both of them|the two|these two"},
    NEG: {"not": "not|never|do not|dont|cancel|abort|never mind|nevermind|forget it|hold off|no need to|"
          "do not ever|stop that|don't|no|refrain from|avoid|without"},
    PREP: {"on": "on|at|from|in|inside|within|hosted on|living on|"
           "located on|into|onto|via|through"},
    METRIC: {
        "cpu": "cpu|cpus|processor|cpu usage|cpu load|compute|cycles",
        "memory": "memory|ram|mem|memory usage|ram usage",
        "disk": "disk|disk space|space|disk usage|storage space|free space|capacity|full",
        "uptime": "uptime|up time|running for|been up|how long",
        "temperature": "temperature|temperatures|temp|temps|hot|heat|warm|thermal|thermals|degrees|overheating|"
        "overheat|overheated|running hot|too hot",
        "restarts": "restarts|restart count|restarted times|crash loop|crashloop|restart loop",
        "image": "image|images|docker image",
        "load": "load|load average|loadavg|load avg",
        "network": "network|traffic|bandwidth|netin|netout|throughput|network usage",
        "version": "version|pve version|versions|kernel",
        "ip": "ip|ip address|address|ips|addresses",
        "usage": "usage|using|uses|use|utilization|utilisation|used|consumption",
    },
    STATE: {
        "running": "running|up|online|alive|started|powered on|turned on|active|live|on line|booted|awake|working",
        "stopped": "stopped|down|offline|off|dead|halted|powered off|turned off|not running|shut off|inactive|"
        "stopped ones|asleep|sleeping",
        "paused": "paused|suspended|frozen",
        "unhealthy": "unhealthy|failed|failing|crashed|crashing|restarting|broken|erroring|exited|degraded",
        "template": "template|templates",
    },
    QWORD: {"what": "what|which|who|whats|wat|wut|show me which|when|why|how|how come|do you know"},
    UNSUPPORTED: {
        "migrate": "migrate|move|live migrate", "delete": "delete|destroy|remove|purge|wipe|format|erase",
        "create": "create|provision|deploy|spawn", "snapshot": "snapshot|snap|rollback|roll back",
        "back up": "backup|back up|restore", "clone": "clone|copy|duplicate", "resize": "resize|grow|extend|shrink",
        "rename": "rename", "install": "install|uninstall|reinstall", "open a shell on": "ssh to|ssh into|log into|"
        "login to|log in to|connect to|open a console to|console to|console into|open a shell on|shell into|vnc",
    },
    FREE: {"free": "free|available|left|remaining|spare|headroom|unused"},
    ENSURE: {"ensure": "make sure|ensure|make certain|see to it that|see that"},
    PAST: {"reboot": "restarted|rebooted|bounced|recycled|power cycled", "resume": "resumed|unpaused",
           "wake": "woken|woke|woken up|woke up", "stop": "killed"},
    SCHEDULE: {"later": "later|later on|tonight|tomorrow|at midnight|at noon|this evening|this afternoon|"
               "in the morning|schedule|scheduled|every day|daily|weekly|nightly|in a bit|in a while|in an hour|"
               "in a minute|at night|overnight|after hours|on the weekend|at the weekend|every night|cron"},
    AUX: {"is": "is|are|was|were|did|does|has|have|had|isnt|arent|am"},
    COUNT: {"count": "how many|number of|count|count of|total|totals|tally|amount of"},
    RANK: {
        "most": "most|top|highest|biggest|max|maximum|greatest|heaviest|largest|hogging|hog|hogs|eating|eats|"
        "consuming|consumes|chewing|burning|busiest|hungriest|fullest|most used|the most|worst|heavy",
        "least": "least|lowest|fewest|minimum|min|smallest|idlest|emptiest|quietest",
    },
    WHERE: {"where": "where|whereabouts|which node|what node|located|lives|live on|hosting|hosts it|placed"},
    HELP: {"help": "help|what can you do|what do you do|what can i say|what can i ask|commands|usage help|"
           "how does this work|examples|what are your commands|how do you work|manual|capabilities|"
           "what do you know|what can you help with|menu"},
    HYPO: {"hypo": "what if|what happens if|what would happen if|what happens when|should i|can i|could i|"
           "may i|is it safe to|how do i|how to|how can i|how would i|would it be safe to|shall i|"
           "is it ok to|is it okay to|would it hurt to|do i need to|is it possible to|how should i"},
    TOPIC: {
        "cluster": "cluster|homelab|home lab|lab|datacenter|datacentre|whole cluster|the cluster|setup|infra|"
        "infrastructure",
        "quorum": "quorum|quorate|in quorum|has quorum",
        "health": "health|healthy|problems|problem|issues|issue|wrong|alerts|alert|errors|error|trouble|"
        "troubles|going on|summary|overview|report|sitrep|situation|anything wrong|broken|attention|concern|"
        "concerns|warnings|warning",
    },
    CONJ: {"and": "and|then|and then|after that|afterwards|also|plus|as well as|along with|followed by|&|+|,"},
    PRON: {"it": "it|them|that one|this one|those|these|that|this|him|her|its"},
    MOD: {"force": "force|forcefully|hard|forced|immediately|right away|brutally|ungracefully",
          "graceful": "gracefully|graceful|cleanly|clean|nicely|softly|safely|properly|politely"},
}

FILLER_PHRASES = (
    "please|pls|plz|plox|kindly|hey|hi|hello|yo|oi|jarvis|hey jarvis|ok|okay|k|thanks|thank you|thx|ty|"
    "cheers|ta|can you|could you|would you|will you|can u|could u|would u|would you mind|would you be so kind|"
    "would you kindly|i want you to|i want to|i would like to|i would like you to|i need you to|i need to|"
    "i wanna|wanna|gonna|go ahead and|go ahead|just|quickly|quick|now|asap|for me|real quick|right now|again|"
    "the|a|an|my|our|your|me|us|some|named|called|with|id|vmid|number|of|to|for|let us|lets|try to|try|"
    "attempt to|please do|do|sir|mate|buddy|bro|boss|dude|man|friend|folks|there|here|currently|right|yet|"
    "still|already|very|really|actually|maybe|perhaps|kind of|sort of|bit|a bit|lot|a lot|so|too|as well|"
    "be|been|being|if possible|when you can|when you get a chance|thanks in advance|much appreciated|"
    "appreciated|mind|good|great|cool|nice|awesome|yes|yeah|yep|sure|about|by|soon|first|quickly please|"
    "one|ones|thing|things|stuff|box|boxes|machine|machines|server|servers|vm's|guys|all good|good morning|"
    "good evening|"
    "up for me|you|i|we|they|am|im|please and thank you|could|would|should|can|will|shall|any|anything|"
    "currently|at the moment|at present|today|anyway|btw|also please|pretty please|real|lol|hmm|um|uh|"
    "tagged|tag|tags|labelled|labeled|with tag|with the tag|whose|that are|which are|ones that|guest named|"
    "in the cluster|across the cluster|cluster wide|cluster-wide|are you able to|would you be able to|"
    "could you possibly|can you please|do you mind|would you please|is it possible for you to|"
    "i would appreciate it if you could|i would appreciate if you could|be a dear and|help me|"
    "get it to|have it|time to"
)

# Words that never name a thing: left over after tagging, they are not treated as unknown names.
STOPWORDS = frozenset(
    "it its be or but if so as by into over up down out off same other another his her their them those these "
    "here there why when how much more less many few new old now wrong problem problems issue issues going "
    "doing happen happened happening ok fine okay look like looks seems seem get got give gave make made take "
    "took need needs want wants know let see saw say said tell told like just well way also than then else "
    "since after before during while again back still yet ever long time times minute minutes hour hours "
    "day days week weeks ago recently last first next lines line number numbers percent pct gb gib mb mib "
    "tb tib cores core guest's node's happy hi hello right left please thanks".split()
)

SERVICES = frozenset(
    "pveproxy pvedaemon pvestatd pve-cluster pvescheduler pve-firewall pve-ha-lrm pve-ha-crm pvebanner "
    "pvefw-logger pve-guests pve-lxc-syscalld pvenetcommit pve-daily-update spiceproxy corosync qmeventd "
    "lxcfs lxc lxc-net chrony chronyd ntp ntpd systemd-timesyncd ssh sshd cron crond rsyslog "
    "systemd-journald systemd-networkd systemd-resolved networking zfs-zed zfs-import-cache zfs-mount smartd "
    "postfix apache2 docker containerd ceph ceph-mon ceph-osd ceph-mgr ceph-mds proxmox-backup "
    "proxmox-backup-proxy nfs-server nfs-kernel-server smbd nmbd rpcbind iscsid open-iscsi multipathd ksmtuned "
    "watchdog-mux frr openvswitch-switch tailscaled snmpd zabbix-agent zabbix-agent2 node-exporter "
    "prometheus-node-exporter pve-exporter telegraf nut-server nut-monitor apcupsd fail2ban ufw "
    "unattended-upgrades dnsmasq".split()
)

# Every verb spelling, for typo repair ("restrat" -> restart); only single words are fuzzed.
_lexicon: dict[tuple[str, ...], tuple[str, str]] = {}


def _add(kind: str, value: str, phrases: str) -> None:
    for phrase in phrases.split("|"):
        words = tuple(phrase.split())
        if words and words not in _lexicon:
            _lexicon[words] = (kind, value)


for _action, _phrases in _VERBS.items():
    _add(VERB, _action.value, _phrases)
for _qual, _phrases in _QUALIFIERS.items():
    _add(QUAL, _qual, _phrases)
for _kind, _table in _WORDS.items():
    for _value, _phrases in _table.items():
        _add(_kind, _value, _phrases)
_add(FILLER, "", FILLER_PHRASES)

LEXICON: dict[tuple[str, ...], tuple[str, str]] = _lexicon
LONGEST_PHRASE = max(len(words) for words in LEXICON)
VERB_SPELLINGS: dict[str, Action] = {
    words[0]: Action(value) for words, (kind, value) in LEXICON.items() if kind == VERB and len(words) == 1
    and len(words[0]) >= 4
}
GUEST_TYPES = {"qemu": "VM", "lxc": "container"}
