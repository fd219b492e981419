/* teamboard wall display.
 *
 * State arrives as server-sent events from the daemon (/events): "config"
 * once, "state" (the status document of SPEC §10) on every change, "acks"
 * (recent acks and today's median). Countdowns and the clock run from the
 * server's numbers plus the browser's monotonic performance.now(); the
 * browser's own wall clock is never used (a kiosk's clock may be wrong).
 * Every text from the backend goes in through textContent, never as markup.
 */
'use strict';
(function () {
	const SVGNS = 'http://www.w3.org/2000/svg';
	const LOCALES = { en: 'en-GB', ru: 'ru-RU', pl: 'pl-PL', da: 'da-DK' };
	const MAX_ROWS = 150;
	const OFFLINE_GRACE_MS = 2500;

	const I18N = {
		en: {
			title: 'Support floor',
			connecting: 'Connecting to the board…',
			live: 'live',
			unacked: 'Unacknowledged', warning: 'SLA warning', breached: 'SLA breached', open: 'Open tickets',
			col_channel: 'Channel', col_ticket: 'Ticket', col_priority: 'Priority', col_visibility: 'Visibility',
			col_ack: 'Acknowledged', col_sla: 'SLA',
			kind_new: 'New', kind_warning: 'Warning', kind_breached: 'Breached', kind_none: 'In progress',
			escalated: 'escalated',
			prio_urgent: 'Urgent', prio_high: 'High', prio_normal: 'Normal', prio_low: 'Low',
			public: 'Public', private: 'Private',
			waiting: 'Waiting', unknown_agent: '(unknown)',
			paused: 'Paused', overdue: 'overdue', no_due: 'no SLA', due_policy: 'SLA target set by the board',
			ch_facebook: 'Facebook', ch_instagram: 'Instagram', ch_twitter: 'X', ch_vk: 'VK', ch_telegram: 'Telegram',
			ch_whatsapp: 'WhatsApp', ch_email: 'E-mail', ch_chat: 'Chat', ch_phone: 'Phone', ch_web: 'Web', ch_other: 'Other',
			incident: 'Major incident', incident_untitled: 'Major incident in progress',
			feed_stale: 'Feed stale: no message from the helpdesk. Do not read the board as all clear.',
			broker_down: 'Board offline: the MQTT broker is unreachable.',
			page_offline: 'No connection to the board since {time}. Reconnecting…',
			muted: 'Buzzer muted until {time}', silenced: 'Buzzer silenced until {time}', quiet: 'Quiet hours: the buzzer is silent',
			clock: 'Board clock not synchronised: times follow the helpdesk’s clock.',
			lamps: 'Lamps', queues: 'Queues', recent_acks: 'Recent acknowledgements',
			lamp_red: 'Red', lamp_amber: 'Amber', lamp_green: 'Green', lamp_blue: 'Blue',
			pat_off: 'Off', pat_steady: 'On', pat_slow: 'Slow flash', pat_fast: 'Fast flash', pat_blind: 'No feed',
			median: 'Median time to ack today: {value}', median_count: { one: '{n} ack', other: '{n} acks' }, no_acks_today: 'No acknowledgements yet today',
			all_clear: 'No open tickets', all_clear_blind: 'No tickets known, but the feed is down',
			more: { one: '+{n} more ticket not shown', other: '+{n} more tickets not shown' },
		},
		ru: {
			title: 'Линия поддержки',
			connecting: 'Подключение к табло…',
			live: 'онлайн',
			unacked: 'Не принято', warning: 'Предупреждение SLA', breached: 'SLA нарушен', open: 'Открытые заявки',
			col_channel: 'Канал', col_ticket: 'Заявка', col_priority: 'Приоритет', col_visibility: 'Видимость',
			col_ack: 'Принял', col_sla: 'SLA',
			kind_new: 'Новая', kind_warning: 'Предупреждение', kind_breached: 'Нарушение', kind_none: 'В работе',
			escalated: 'эскалация',
			prio_urgent: 'Срочный', prio_high: 'Высокий', prio_normal: 'Обычный', prio_low: 'Низкий',
			public: 'Публичная', private: 'Личная',
			waiting: 'Ожидает', unknown_agent: '(неизвестно)',
			paused: 'Пауза', overdue: 'просрочено', no_due: 'без SLA', due_policy: 'срок SLA задан табло',
			ch_facebook: 'Facebook', ch_instagram: 'Instagram', ch_twitter: 'X', ch_vk: 'ВКонтакте', ch_telegram: 'Telegram',
			ch_whatsapp: 'WhatsApp', ch_email: 'Эл. почта', ch_chat: 'Чат', ch_phone: 'Телефон', ch_web: 'Сайт', ch_other: 'Другое',
			incident: 'Крупный инцидент', incident_untitled: 'Идёт крупный инцидент',
			feed_stale: 'Нет данных от хелпдеска. Не считайте, что всё в порядке.',
			broker_down: 'Табло офлайн: брокер MQTT недоступен.',
			page_offline: 'Нет связи с табло с {time}. Переподключение…',
			muted: 'Звук выключен до {time}', silenced: 'Звук приглушён до {time}', quiet: 'Тихие часы: звук выключен',
			clock: 'Часы табло не синхронизированы: время по часам хелпдеска.',
			lamps: 'Лампы', queues: 'Очереди', recent_acks: 'Последние подтверждения',
			lamp_red: 'Красная', lamp_amber: 'Жёлтая', lamp_green: 'Зелёная', lamp_blue: 'Синяя',
			pat_off: 'Выкл.', pat_steady: 'Горит', pat_slow: 'Мигает', pat_fast: 'Часто мигает', pat_blind: 'Нет данных',
			median: 'Медиана времени реакции сегодня: {value}', median_count: { one: '{n} подтверждение', few: '{n} подтверждения', many: '{n} подтверждений', other: '{n} подтверждения' }, no_acks_today: 'Сегодня подтверждений ещё нет',
			all_clear: 'Открытых заявок нет', all_clear_blind: 'Заявок не видно, но данные не поступают',
			more: { one: 'ещё {n} заявка не показана', few: 'ещё {n} заявки не показаны', many: 'ещё {n} заявок не показано', other: 'ещё {n} заявки не показано' },
		},
		pl: {
			title: 'Dział obsługi',
			connecting: 'Łączenie z tablicą…',
			live: 'na żywo',
			unacked: 'Niepotwierdzone', warning: 'Ostrzeżenie SLA', breached: 'SLA przekroczone', open: 'Otwarte zgłoszenia',
			col_channel: 'Kanał', col_ticket: 'Zgłoszenie', col_priority: 'Priorytet', col_visibility: 'Widoczność',
			col_ack: 'Potwierdził(a)', col_sla: 'SLA',
			kind_new: 'Nowe', kind_warning: 'Ostrzeżenie', kind_breached: 'Przekroczone', kind_none: 'W toku',
			escalated: 'eskalacja',
			prio_urgent: 'Pilny', prio_high: 'Wysoki', prio_normal: 'Normalny', prio_low: 'Niski',
			public: 'Publiczne', private: 'Prywatne',
			waiting: 'Czeka', unknown_agent: '(nieznany)',
			paused: 'Wstrzymane', overdue: 'po terminie', no_due: 'bez SLA', due_policy: 'termin SLA ustalony przez tablicę',
			ch_facebook: 'Facebook', ch_instagram: 'Instagram', ch_twitter: 'X', ch_vk: 'VK', ch_telegram: 'Telegram',
			ch_whatsapp: 'WhatsApp', ch_email: 'E-mail', ch_chat: 'Czat', ch_phone: 'Telefon', ch_web: 'WWW', ch_other: 'Inne',
			incident: 'Poważny incydent', incident_untitled: 'Trwa poważny incydent',
			feed_stale: 'Brak danych z helpdesku. Tablica może nie pokazywać wszystkiego.',
			broker_down: 'Tablica offline: broker MQTT jest nieosiągalny.',
			page_offline: 'Brak połączenia z tablicą od {time}. Ponowne łączenie…',
			muted: 'Brzęczyk wyciszony do {time}', silenced: 'Brzęczyk uciszony do {time}', quiet: 'Godziny ciszy: brzęczyk milczy',
			clock: 'Zegar tablicy nie jest zsynchronizowany: czas według zegara helpdesku.',
			lamps: 'Lampy', queues: 'Kolejki', recent_acks: 'Ostatnie potwierdzenia',
			lamp_red: 'Czerwona', lamp_amber: 'Żółta', lamp_green: 'Zielona', lamp_blue: 'Niebieska',
			pat_off: 'Wył.', pat_steady: 'Świeci', pat_slow: 'Miga wolno', pat_fast: 'Miga szybko', pat_blind: 'Brak danych',
			median: 'Mediana czasu reakcji dziś: {value}', median_count: { one: '{n} potwierdzenie', few: '{n} potwierdzenia', many: '{n} potwierdzeń', other: '{n} potwierdzenia' }, no_acks_today: 'Dziś jeszcze brak potwierdzeń',
			all_clear: 'Brak otwartych zgłoszeń', all_clear_blind: 'Brak znanych zgłoszeń, ale nie ma danych',
			more: { one: '+{n} zgłoszenie niewidoczne', few: '+{n} zgłoszenia niewidoczne', many: '+{n} zgłoszeń niewidocznych', other: '+{n} zgłoszenia niewidoczne' },
		},
		da: {
			title: 'Kundeservice',
			connecting: 'Forbinder til tavlen…',
			live: 'live',
			unacked: 'Ikke kvitteret', warning: 'SLA-advarsel', breached: 'SLA overskredet', open: 'Åbne sager',
			col_channel: 'Kanal', col_ticket: 'Sag', col_priority: 'Prioritet', col_visibility: 'Synlighed',
			col_ack: 'Kvitteret af', col_sla: 'SLA',
			kind_new: 'Ny', kind_warning: 'Advarsel', kind_breached: 'Overskredet', kind_none: 'I gang',
			escalated: 'eskaleret',
			prio_urgent: 'Haster', prio_high: 'Høj', prio_normal: 'Normal', prio_low: 'Lav',
			public: 'Offentlig', private: 'Privat',
			waiting: 'Venter', unknown_agent: '(ukendt)',
			paused: 'På pause', overdue: 'over tid', no_due: 'ingen SLA', due_policy: 'SLA-frist sat af tavlen',
			ch_facebook: 'Facebook', ch_instagram: 'Instagram', ch_twitter: 'X', ch_vk: 'VK', ch_telegram: 'Telegram',
			ch_whatsapp: 'WhatsApp', ch_email: 'E-mail', ch_chat: 'Chat', ch_phone: 'Telefon', ch_web: 'Web', ch_other: 'Andet',
			incident: 'Større hændelse', incident_untitled: 'Større hændelse i gang',
			feed_stale: 'Ingen data fra helpdesken. Tavlen viser måske ikke alt.',
			broker_down: 'Tavlen er offline: MQTT-brokeren kan ikke nås.',
			page_offline: 'Ingen forbindelse til tavlen siden {time}. Forbinder igen…',
			muted: 'Summer slået fra indtil {time}', silenced: 'Summer dæmpet indtil {time}', quiet: 'Stille timer: summeren er slået fra',
			clock: 'Tavlens ur er ikke synkroniseret: tider følger helpdeskens ur.',
			lamps: 'Lamper', queues: 'Køer', recent_acks: 'Seneste kvitteringer',
			lamp_red: 'Rød', lamp_amber: 'Gul', lamp_green: 'Grøn', lamp_blue: 'Blå',
			pat_off: 'Slukket', pat_steady: 'Tændt', pat_slow: 'Blinker langsomt', pat_fast: 'Blinker hurtigt', pat_blind: 'Ingen data',
			median: 'Median svartid i dag: {value}', median_count: { one: '{n} kvittering', other: '{n} kvitteringer' }, no_acks_today: 'Ingen kvitteringer endnu i dag',
			all_clear: 'Ingen åbne sager', all_clear_blind: 'Ingen kendte sager, men der kommer ingen data',
			more: { one: '+{n} sag mere vises ikke', other: '+{n} sager mere vises ikke' },
		},
	};
	const CHANNELS = ['facebook', 'instagram', 'twitter', 'vk', 'telegram', 'whatsapp', 'email', 'chat', 'phone', 'web', 'other'];
	const LAMPS = ['red', 'amber', 'green', 'blue'];

	const params = new URLSearchParams(location.search);
	const token = params.get('token');
	let cfg = { language: 'en', timezone: 'UTC', board: '' };
	let lang = 'en';
	let state = null;
	let stateAt = 0;      /* performance.now() when `state` arrived */
	let serverNowMs = 0;  /* state.now as ms since the epoch */
	let acks = null;
	let connected = false;
	let lostAt = null;    /* performance.now() when the stream broke */
	let countdowns = [];
	let source = null;

	function $(id) { return document.getElementById(id); }

	function t(key, vars) {
		let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
		if (vars)
			for (const k in vars)
				s = s.split('{' + k + '}').join(String(vars[k]));
		return s;
	}

	function plural(key, n) {
		const forms = (I18N[lang] && I18N[lang][key]) || I18N.en[key];
		const cat = new Intl.PluralRules(LOCALES[lang]).select(n);
		return (forms[cat] || forms.other).split('{n}').join(String(n));
	}

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = text;
		return e;
	}

	function icon(id, cls) {
		const s = document.createElementNS(SVGNS, 'svg');
		s.setAttribute('class', 'icon' + (cls ? ' ' + cls : ''));
		s.setAttribute('aria-hidden', 'true');
		const u = document.createElementNS(SVGNS, 'use');
		u.setAttribute('href', '#i-' + id);
		s.appendChild(u);
		return s;
	}

	/* The board's idea of now: its last reported time plus monotonic time
	 * elapsed since. */
	function boardNowMs() {
		return serverNowMs + (performance.now() - stateAt);
	}

	function fmtTime(ms, withSeconds) {
		const opts = { hour: '2-digit', minute: '2-digit', timeZone: cfg.timezone || 'UTC' };
		if (withSeconds)
			opts.second = '2-digit';
		try {
			return new Intl.DateTimeFormat(LOCALES[lang], opts).format(new Date(ms));
		} catch (e) {
			delete opts.timeZone;
			return new Intl.DateTimeFormat(LOCALES[lang], opts).format(new Date(ms));
		}
	}

	function unit(n, u) {
		return new Intl.NumberFormat(LOCALES[lang], { style: 'unit', unit: u, unitDisplay: 'short' }).format(n);
	}

	/* "1 min 12 s", localised units. */
	function fmtDuration(ms) {
		let s = Math.max(0, Math.round(ms / 1000));
		if (s < 60)
			return unit(s, 'second');
		const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
		s %= 60;
		if (h)
			return unit(h, 'hour') + ' ' + unit(m, 'minute');
		return unit(m, 'minute') + (s ? ' ' + unit(s, 'second') : '');
	}

	/* Countdown text: "12:05", "1:02:03", "−0:45" when overdue. */
	function fmtCountdown(sec) {
		const neg = sec < 0;
		let s = Math.floor(Math.abs(sec));
		const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
		s %= 60;
		const pad = (x) => String(x).padStart(2, '0');
		return (neg ? '−' : '') + (h ? h + ':' + pad(m) : String(m)) + ':' + pad(s);
	}

	/* --- rendering ------------------------------------------------------ */

	function renderStatic() {
		document.documentElement.lang = lang;
		document.body.dataset.lang = lang;
		$('title').textContent = t('title');
		$('h-lamps').textContent = t('lamps');
		$('h-queues').textContent = t('queues');
		$('h-acks').textContent = t('recent_acks');
		const head = $('thead');
		head.replaceChildren();
		for (const [k, c] of [['col_channel', 'c-chan'], ['col_ticket', 'c-subj'], ['col_priority', 'c-prio'],
			['col_visibility', 'c-vis'], ['col_ack', 'c-ack'], ['col_sla', 'c-sla']]) {
			const iconOnly = c === 'c-vis' || c === 'c-chan';
			const th = el('th', c, iconOnly ? null : t(k));
			if (iconOnly)
				th.appendChild(el('span', 'sr', t(k)));
			head.appendChild(th);
		}
	}

	function banner(cls, iconId, text) {
		const b = el('div', 'banner ' + cls);
		b.dataset.banner = cls;
		b.appendChild(icon(iconId));
		b.appendChild(el('span', null, text));
		return b;
	}

	function renderBanners() {
		const box = $('banners');
		box.replaceChildren();
		if (!connected && lostAt !== null && performance.now() - lostAt > OFFLINE_GRACE_MS)
			box.appendChild(banner('offline', 'offline', t('page_offline', { time: fmtTime(boardNowMs() - (performance.now() - lostAt)) })));
		if (!state)
			return;
		if (state.incident)
			box.appendChild(banner('incident', 'incident', state.incident.title ? t('incident') + ': ' + state.incident.title : t('incident_untitled')));
		if (state.broker !== 'connected')
			box.appendChild(banner('broker', 'offline', t('broker_down')));
		else if (state.feed === 'stale')
			box.appendChild(banner('stale', 'feed', t('feed_stale')));
		if (state.muted_until)
			box.appendChild(banner('muted', 'muted', t('muted', { time: fmtTime(Date.parse(state.muted_until)) })));
		else if (state.silenced_until)
			box.appendChild(banner('muted', 'muted', t('silenced', { time: fmtTime(Date.parse(state.silenced_until)) })));
		else if (state.quiet)
			box.appendChild(banner('muted', 'muted', t('quiet')));
	}

	function renderCounters() {
		const box = $('counters');
		box.replaceChildren();
		const c = state ? state.counts : { unacked: 0, warning: 0, breached: 0, open: 0 };
		for (const [k, ic] of [['unacked', 'bell'], ['warning', 'warning'], ['breached', 'breached'], ['open', 'inbox']]) {
			const d = el('div', 'counter ' + k + (c[k] > 0 ? ' hot' : ''));
			d.dataset.counter = k;
			d.appendChild(icon(ic));
			d.appendChild(el('span', 'num', String(c[k])));
			d.appendChild(el('span', 'label', t(k)));
			box.appendChild(d);
		}
	}

	function slaClass(a, remaining) {
		if (a.due_in_s === null || a.due_in_s === undefined)
			return 'none';
		if (a.paused)
			return 'paused';
		if (remaining < 0 || a.kind === 'breached')
			return 'overdue';
		if (a.kind === 'warning')
			return 'warning';
		return 'running';
	}

	const SLA_ICON = { running: 'running', warning: 'warning', overdue: 'breached', paused: 'pause', none: 'clock' };

	function paintCountdown(cd) {
		const a = cd.alert;
		let remaining = a.due_in_s;
		if (!a.paused && remaining !== null)
			remaining = a.due_in_s - (performance.now() - stateAt) / 1000;
		const cls = slaClass(a, remaining);
		if (cd.cls !== cls) {
			cd.cell.replaceChildren();
			cd.span = el('span', 'sla ' + cls);
			cd.span.appendChild(icon(SLA_ICON[cls]));
			cd.text = document.createTextNode('');
			/* The word is for screen readers and innerText; the icon
			 * (dot, triangle, octagon, pause bars) carries it on screen. */
			if (cls === 'paused' || cls === 'overdue')
				cd.span.appendChild(el('span', 'sr', t(cls) + ' '));
			cd.span.appendChild(document.createTextNode(' '));
			cd.span.appendChild(cd.text);
			cd.cell.appendChild(cd.span);
			cd.cls = cls;
		}
		let text;
		if (cls === 'none')
			text = t('no_due');
		else
			text = fmtCountdown(remaining);
		if (cd.text.data !== text)
			cd.text.data = text;
		cd.span.title = cls === 'overdue' || cls === 'paused' ? t(cls) : '';
	}

	function renderTickets() {
		const body = $('tickets');
		body.replaceChildren();
		countdowns = [];
		const list = state ? state.alerts : [];
		const shown = list.slice(0, MAX_ROWS);
		for (const a of shown) {
			const tr = el('tr', (a.state || '') + ' ' + (a.kind || ''));
			tr.dataset.ticket = a.ticket_id;
			const chan = CHANNELS.includes(a.channel) ? a.channel : 'other';
			const tdC = el('td', 'c-chan');
			/* The brand glyph says which channel; its name is for screen
			 * readers and the tooltip (the queues panel shows it too). */
			tdC.appendChild(icon(chan));
			tdC.appendChild(el('span', 'sr', t('ch_' + chan)));
			tdC.title = t('ch_' + chan);
			tr.appendChild(tdC);

			const tdS = el('td', 'c-subj');
			if (a.kind && a.kind !== 'none') {
				const k = el('span', 'kind ' + a.kind);
				k.appendChild(icon(a.kind === 'new' ? 'new' : a.kind === 'warning' ? 'warning' : 'breached'));
				k.appendChild(document.createTextNode(' ' + t('kind_' + a.kind) + (a.escalated ? ' (' + t('escalated') + ')' : '')));
				tdS.appendChild(k);
			}
			tdS.appendChild(el('span', 'tid', a.ticket_id));
			tdS.appendChild(el('span', 'subject', a.subject || ''));
			tdS.title = (a.subject || '') + (a.customer ? ' — ' + a.customer : '');
			tr.appendChild(tdS);

			const tdP = el('td', 'c-prio');
			tdP.appendChild(el('span', 'prio ' + a.priority, (a.priority === 'urgent' ? '‼ ' : a.priority === 'high' ? '! ' : '') + t('prio_' + a.priority)));
			tr.appendChild(tdP);

			const tdV = el('td', 'c-vis');
			const v = el('span', 'vis ' + (a.public ? 'public' : 'private'));
			v.appendChild(icon(a.public ? 'public' : 'lock'));
			v.appendChild(el('span', 'sr', ' ' + t(a.public ? 'public' : 'private')));
			v.title = t(a.public ? 'public' : 'private');
			tdV.appendChild(v);
			tr.appendChild(tdV);

			const tdA = el('td', 'c-ack');
			const who = a.acked_by || a.assignee;
			if (a.state === 'acked' || a.acked_by) {
				const s = el('span', 'acker');
				s.appendChild(icon('check'));
				s.appendChild(document.createTextNode(' ' + (a.acked_by || t('unknown_agent'))));
				tdA.appendChild(s);
			} else if (a.state === 'unacked') {
				const s = el('span', 'waiting');
				s.appendChild(icon('bell'));
				s.appendChild(document.createTextNode(' ' + t('waiting')));
				tdA.appendChild(s);
			} else if (who) {
				tdA.appendChild(el('span', null, who));
			}
			tr.appendChild(tdA);

			const tdT = el('td', 'c-sla');
			/* A due the board's [sla] policy set, not the helpdesk (docs/sla.md). */
			if (a.due_source === 'policy') {
				tdT.dataset.dueSource = 'policy';
				tdT.title = t('due_policy');
			}
			tr.appendChild(tdT);
			const cd = { alert: a, cell: tdT, cls: null };
			paintCountdown(cd);
			countdowns.push(cd);
			body.appendChild(tr);
		}
		fitRows(list.length, state ? state.counts.open : 0);

		const empty = $('empty');
		if (state && list.length === 0) {
			const blind = state.blind || state.feed === 'stale' || state.broker !== 'connected';
			empty.className = 'empty' + (blind ? ' blind' : '');
			empty.replaceChildren(icon(blind ? 'warning' : 'check'), el('div', null, t(blind ? 'all_clear_blind' : 'all_clear')));
			empty.hidden = false;
		} else {
			empty.hidden = true;
		}
	}

	/* Rows that do not fit are hidden and counted, so the screen never
	 * scrolls and 500 open tickets still read at a glance. */
	function fitRows(listed, open) {
		const panel = $('tickets-panel');
		const more = $('more');
		const rows = $('tickets').rows;
		more.hidden = true;
		const limit = panel.clientHeight;
		let visible = 0;
		for (const r of rows) {
			r.classList.remove('hidden');
		}
		/* Leave room for the "more" line when something is cut. */
		const reserve = more.offsetHeight || 40;
		for (let i = 0; i < rows.length; i++) {
			const r = rows[i];
			const bottom = r.offsetTop + r.offsetHeight;
			const needMore = i < rows.length - 1 || open > listed;
			if (bottom > limit - (needMore ? reserve : 0) && i > 0) {
				for (let j = i; j < rows.length; j++)
					rows[j].classList.add('hidden');
				break;
			}
			visible++;
		}
		const hidden = Math.max(0, open - visible);
		if (hidden > 0) {
			more.textContent = plural('more', hidden);
			more.hidden = false;
		}
		document.body.dataset.visibleRows = String(visible);
	}

	function renderLamps() {
		const box = $('lamps');
		box.replaceChildren();
		const lamps = state ? state.lamps : {};
		for (const l of LAMPS) {
			const p = lamps[l] || 'off';
			const d = el('div', 'lamp ' + l + ' p-' + p + (p !== 'off' ? ' on' : ''));
			d.dataset.lamp = l;
			d.dataset.pattern = p;
			d.appendChild(el('div', 'bulb'));
			d.appendChild(el('div', 'lname', t('lamp_' + l)));
			d.appendChild(el('div', 'lstate', t('pat_' + p)));
			box.appendChild(d);
		}
	}

	function renderQueues() {
		const box = $('queues');
		box.replaceChildren();
		const ch = (state && state.channels) || {};
		for (const c of CHANNELS) {
			const q = ch[c] || { open: 0, unacked: 0 };
			if (!q.open && ['whatsapp', 'web', 'other'].includes(c))
				continue;
			const d = el('div', 'queue' + (q.open ? '' : ' idle'));
			d.dataset.channel = c;
			d.appendChild(icon(c));
			d.appendChild(el('span', 'qname', t('ch_' + c)));
			if (q.unacked) {
				const u = el('span', 'qun');
				u.appendChild(icon('bell'));
				u.appendChild(document.createTextNode(String(q.unacked)));
				d.appendChild(u);
			}
			d.appendChild(el('span', 'qopen', String(q.open)));
			box.appendChild(d);
		}
	}

	function renderAcks() {
		const med = $('median');
		const list = $('acks');
		med.replaceChildren();
		list.replaceChildren();
		if (!acks)
			return;
		const today = acks.today || {};
		if (today.acks > 0 && today.median_ms !== null) {
			med.appendChild(document.createTextNode(t('median', { value: '' }).replace(/[:\s]+$/, '')));
			const v = el('b', null, fmtDuration(today.median_ms));
			v.appendChild(el('small', 'mcount', ' (' + plural('median_count', today.acks) + ')'));
			med.appendChild(v);
		} else {
			med.textContent = t('no_acks_today');
		}
		med.dataset.medianMs = today.median_ms === null || today.median_ms === undefined ? '' : String(today.median_ms);
		for (const a of acks.recent || []) {
			const li = el('li');
			li.dataset.ack = a.id;
			li.appendChild(el('span', 'atime', a.at ? fmtTime(Date.parse(a.at)) : ''));
			li.appendChild(el('span', 'aagent', a.agent || t('unknown_agent')));
			li.appendChild(el('span', 'aticket', a.ticket_id));
			const tta = el('span', 'atta');
			tta.appendChild(icon('clock'));
			tta.appendChild(document.createTextNode(' ' + fmtDuration(a.latency_ms)));
			li.appendChild(tta);
			list.appendChild(li);
		}
	}

	function renderNotice() {
		const n = $('notice');
		if (state && state.clock_synced === false) {
			n.replaceChildren(icon('clock'), el('span', null, t('clock')));
			n.hidden = false;
		} else {
			n.hidden = true;
		}
	}

	function renderConn() {
		$('conn').textContent = connected ? (cfg.version ? cfg.version + ' · ' : '') + t('live') : t('connecting');
	}

	function renderAll() {
		renderStatic();
		$('board').textContent = cfg.board || 'teamboard';
		renderConn();
		renderBanners();
		renderCounters();
		renderLamps();
		renderQueues();
		renderTickets();
		renderAcks();
		renderNotice();
		tick();
	}

	function tick() {
		for (const cd of countdowns)
			paintCountdown(cd);
		if (state)
			$('clock').textContent = fmtTime(boardNowMs(), false);
		const stale = !connected && lostAt !== null && performance.now() - lostAt > OFFLINE_GRACE_MS;
		document.body.classList.toggle('stale', stale);
		if (stale !== (document.body.dataset.offline === '1')) {
			document.body.dataset.offline = stale ? '1' : '0';
			renderBanners();
		}
	}

	/* --- the stream ----------------------------------------------------- */

	function onState(ev) {
		state = JSON.parse(ev.data);
		stateAt = performance.now();
		serverNowMs = state.now ? Date.parse(state.now) : serverNowMs;
		renderAll();
		document.body.dataset.ready = '1';
		document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
	}

	function connect() {
		const url = '/events' + (token ? '?token=' + encodeURIComponent(token) : '');
		source = new EventSource(url);
		source.addEventListener('open', () => {
			connected = true;
			lostAt = null;
			renderConn();
			tick();
		});
		source.addEventListener('error', () => {
			if (connected || lostAt === null)
				lostAt = performance.now();
			connected = false;
			renderConn();
			/* EventSource retries by itself unless the server refused the
			 * stream (401, 503): then start over after a pause. */
			if (source.readyState === EventSource.CLOSED)
				setTimeout(connect, 5000);
		});
		source.addEventListener('config', (ev) => {
			cfg = JSON.parse(ev.data);
			const wanted = params.get('lang') || cfg.language;
			lang = I18N[wanted] ? wanted : 'en';
			if (state)
				renderAll();
		});
		source.addEventListener('state', onState);
		source.addEventListener('acks', (ev) => {
			acks = JSON.parse(ev.data);
			renderAcks();
		});
	}

	lang = I18N[params.get('lang')] ? params.get('lang') : 'en';
	renderAll();
	connect();
	setInterval(tick, 200);
	window.addEventListener('resize', () => { if (state) renderTickets(); });
})();
