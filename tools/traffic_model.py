"""The support day that tools/traffic publishes: a seeded discrete-event model.

Everything here is pure: no clock, no network, no printing. A Simulation runs
in simulated seconds since the start of day 1 (00:00). The caller asks when
the next action is due (next_time), and runs it (step) with the wall-clock
millisecond it wants the resulting events stamped with; due times are that
stamp plus the budget divided by the speed factor. All randomness comes from
one seeded generator consumed in heap order, and no decision looks at the
wall clock, so a seed gives the same sequence of ticket events at any speed.

docs/traffic.md explains the model and the reasoning behind its numbers.
"""
import heapq
import math
import random
from datetime import datetime, timezone

MIN = 60
HOUR = 3600
DAY = 24 * HOUR

CHANNELS = ["facebook", "instagram", "twitter", "vk", "telegram", "whatsapp", "email",
            "chat", "phone", "web"]
CHANNEL_WEIGHTS = [14, 12, 8, 7, 10, 10, 18, 12, 5, 4]
SOCIAL = {"facebook", "instagram", "twitter", "vk"}
MESSENGERS = {"telegram", "whatsapp"}
PRIORITIES = ["low", "normal", "high", "urgent"]

# New tickets per simulated hour at --rate 1 (hour 0..23): a quiet night, a
# morning peak, a lunch dip, an after-lunch peak, a long evening tail.
HOURLY_RATE = [2, 1, 1, 1, 1, 2, 4, 8, 16, 24, 26, 22, 14, 13, 22, 24, 20, 14, 9, 7, 5, 4, 3, 2]

# Chance, checked once an hour and scaled by that hour's share of the peak,
# that a burst of 3-8 similar tickets arrives within a few minutes.
BURST_P = 0.2

# Languages: (weight, customer names)
LANGS = {
    "en": (30, ["Emma W.", "Oliver S.", "Sophie T.", "James K.", "Amelia R.", "Noah B.",
                "Grace H.", "Liam O'Brien", "Chloe D.", "Jack M."]),
    "ru": (25, ["Иван П.", "Мария С.", "Алексей К.", "Ольга Н.", "Дмитрий В.", "Анна Л.",
                "Сергей Б.", "Екатерина Ж.", "Никита Ф.", "Татьяна Р."]),
    "pl": (15, ["Katarzyna W.", "Piotr Z.", "Agnieszka K.", "Tomasz Ł.", "Małgorzata S.",
                "Paweł D.", "Zofia G.", "Michał Ż."]),
    "da": (15, ["Mette H.", "Søren J.", "Freja N.", "Rasmus Ø.", "Ida K.", "Mads L.",
                "Signe Å.", "Frederik B."]),
    "de": (15, ["Jonas M.", "Lea S.", "Lukas W.", "Hannah K.", "Felix B.", "Marie Schäfer",
                "Paul Groß", "Lena F."]),
}

# category: (share of tickets, priority weights low/normal/high/urgent,
#            how much likelier than average a public post is,
#            chance that the first answer settles it)
CATEGORIES = {
    "complaint": (34, [5, 55, 32, 8], 1.3, 0.35),
    "technical": (28, [5, 50, 33, 12], 1.0, 0.30),
    "question": (32, [30, 62, 7, 1], 0.7, 0.65),
    "praise": (6, [85, 15, 0, 0], 1.1, 0.90),
}

# After an answer that did not settle it: the agent asked for something and
# the ticket waits on the customer (SLA paused) with this chance; otherwise
# the customer simply writes back (a next response is due).
PENDING_P = 0.4
# A pending customer who never answers: the ticket is solved by the
# helpdesk's pending-ticket automation.
NO_ANSWER_P = 0.25
MAX_EXCHANGES = 4

SUBJECTS = {
    "en": {
        "complaint": ["Order never arrived", "Charged twice for one order", "Courier was rude",
                      "Item arrived broken", "Still waiting for my refund",
                      "Wrong size delivered", "Where is my parcel??", "Missing item in my box",
                      "Cancelled order but money taken", "Delivery 5 days late"],
        "technical": ["Can't log in to the app", "App crashes at checkout",
                      "Password reset email never comes", "Payment failed but money reserved",
                      "Promo code not working", "Tracking link shows an error",
                      "Can't add card in the app"],
        "question": ["When will my order ship?", "Can I change the delivery address?",
                     "Do you ship to Iceland?", "What are your opening hours?",
                     "How do I return an item?", "Is this available in blue?",
                     "Can I pay on delivery?"],
        "praise": ["Thank you, great service!", "Courier was super friendly",
                   "Love the new app update", "Fast delivery, thanks!"],
    },
    "ru": {
        "complaint": ["Заказ так и не пришёл", "Деньги списали дважды", "Грубый курьер",
                      "Товар пришёл сломанным", "Жду возврат денег уже две недели",
                      "Привезли не тот размер", "Где моя посылка?!", "В заказе не хватает товара",
                      "Отменил заказ, а деньги не вернули"],
        "technical": ["Не могу войти в приложение", "Приложение вылетает при оплате",
                      "Не приходит письмо для сброса пароля",
                      "Оплата не прошла, деньги заблокированы",
                      "Промокод не работает", "Ссылка для отслеживания не открывается"],
        "question": ["Когда отправят мой заказ?", "Можно изменить адрес доставки?",
                     "Как оформить возврат?", "Есть ли доставка в Казань?",
                     "Можно оплатить при получении?", "Есть этот товар в синем цвете?"],
        "praise": ["Спасибо, отличный сервис!", "Курьер очень вежливый",
                   "Быстрая доставка, спасибо"],
    },
    "pl": {
        "complaint": ["Zamówienie nie dotarło", "Pobrano płatność dwa razy", "Niemiły kurier",
                      "Towar przyszedł uszkodzony", "Wciąż czekam na zwrot pieniędzy",
                      "Dostałem zły rozmiar", "Gdzie jest moja paczka?"],
        "technical": ["Nie mogę się zalogować do aplikacji",
                      "Aplikacja zawiesza się przy płatności",
                      "Nie dostaję maila do resetu hasła", "Kod rabatowy nie działa"],
        "question": ["Kiedy wyślecie moje zamówienie?", "Czy mogę zmienić adres dostawy?",
                     "Jak zwrócić produkt?", "Czy można płacić przy odbiorze?"],
        "praise": ["Dziękuję, świetna obsługa!", "Bardzo szybka dostawa"],
    },
    "da": {
        "complaint": ["Min ordre er aldrig kommet", "Trukket to gange for én ordre",
                      "Varen kom i stykker", "Venter stadig på min refusion",
                      "Forkert størrelse leveret", "Hvor er min pakke?"],
        "technical": ["Kan ikke logge ind i appen", "Appen lukker ned ved betaling",
                      "Får ingen mail om nulstilling af adgangskode", "Rabatkoden virker ikke"],
        "question": ["Hvornår bliver min ordre sendt?", "Kan jeg ændre leveringsadressen?",
                     "Hvordan returnerer jeg en vare?", "Sender I til Færøerne?"],
        "praise": ["Tak for den gode service!", "Super hurtig levering"],
    },
    "de": {
        "complaint": ["Bestellung nie angekommen", "Zweimal abgebucht", "Unfreundlicher Kurier",
                      "Artikel kam beschädigt an", "Warte immer noch auf meine Erstattung",
                      "Falsche Größe geliefert", "Wo bleibt mein Paket?"],
        "technical": ["Login in der App geht nicht", "App stürzt beim Bezahlen ab",
                      "Keine E-Mail zum Zurücksetzen des Passworts",
                      "Gutscheincode funktioniert nicht"],
        "question": ["Wann wird meine Bestellung verschickt?", "Kann ich die Lieferadresse ändern?",
                     "Wie sende ich etwas zurück?", "Kann ich per Nachnahme zahlen?"],
        "praise": ["Danke, toller Service!", "Sehr schnelle Lieferung"],
    },
}

# (title, the complaints customers post about it, by language)
INCIDENTS = [
    ("Payments failing at checkout", {
        "en": ["Can't pay for my order", "Payment keeps failing!!", "checkout broken?",
               "Card declined but it works everywhere else", "Payment error again"],
        "ru": ["Не проходит оплата", "Оплата не работает!!", "Ошибка при оплате заказа",
               "Карта отклонена, хотя деньги есть"],
        "pl": ["Nie mogę zapłacić za zamówienie", "Płatność nie przechodzi!"],
        "da": ["Kan ikke betale", "Betalingen fejler hele tiden"],
        "de": ["Bezahlung funktioniert nicht", "Zahlung schlägt immer fehl!"],
    }),
    ("Mobile app login outage", {
        "en": ["App won't let me log in", "Login broken for everyone?", "Can't sign in!!"],
        "ru": ["Не могу войти в приложение", "Приложение не пускает, что случилось?"],
        "pl": ["Nie da się zalogować do aplikacji", "Logowanie nie działa!"],
        "da": ["Kan ikke logge ind", "Login virker ikke i appen"],
        "de": ["Kann mich nicht einloggen", "Login geht schon wieder nicht!"],
    }),
    ("Parcel tracking down", {
        "en": ["Tracking page is down", "Where is my parcel? tracking shows nothing",
               "Tracking link broken"],
        "ru": ["Не работает отслеживание посылки", "Трекинг показывает ошибку"],
        "pl": ["Śledzenie przesyłki nie działa"],
        "da": ["Sporing af pakke virker ikke"],
        "de": ["Sendungsverfolgung geht nicht"],
    }),
]
# What people add to the same complaint when everyone is posting it.
SURGE_SUFFIXES = ["???", "(again)", "@support", "😡", "#fail"]
SURGE_CHANNELS = (["facebook", "instagram", "twitter", "vk", "telegram", "whatsapp"],
                  [30, 20, 20, 12, 10, 8])

AGENTS = ["anna", "boris", "chen", "dorota", "emil", "fatima", "gustav", "hanna", "ivan",
          "jonas"]


def rfc3339(ms):
    """Wall-clock milliseconds as RFC 3339 UTC with milliseconds."""
    return datetime.fromtimestamp(ms // 1000, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def first_response_budget(channel, priority, public):
    """Simulated seconds to the first answer (and to each next answer)."""
    p = PRIORITIES.index(priority)   # 0 low .. 3 urgent
    if channel in SOCIAL and public:
        return [30 * MIN, 15 * MIN, 10 * MIN, 5 * MIN][p]
    if channel in SOCIAL or channel in MESSENGERS:
        return [60 * MIN, 30 * MIN, 20 * MIN, 15 * MIN][p]
    if channel == "chat":
        return [30 * MIN, 15 * MIN, 10 * MIN, 5 * MIN][p]
    if channel == "phone":       # call-backs
        return [4 * HOUR, 2 * HOUR, 1 * HOUR, 30 * MIN][p]
    return [24 * HOUR, 8 * HOUR, 4 * HOUR, 1 * HOUR][p]      # email, web form


def resolution_budget(channel, priority, public):
    p = PRIORITIES.index(priority)
    if channel in SOCIAL and public:
        return [24 * HOUR, 8 * HOUR, 4 * HOUR, 2 * HOUR][p]
    if channel in ("email", "web"):
        return [72 * HOUR, 48 * HOUR, 24 * HOUR, 8 * HOUR][p]
    return [48 * HOUR, 24 * HOUR, 8 * HOUR, 4 * HOUR][p]


def customer_pace(channel):
    """(min, max) simulated seconds a customer takes to write back."""
    if channel in ("email", "web"):
        return 30 * MIN, 5 * HOUR
    if channel == "phone":
        return 1 * HOUR, 6 * HOUR
    return 2 * MIN, 90 * MIN


def queue_of(channel, lang):
    group = ("social" if channel in SOCIAL else "messaging" if channel in MESSENGERS
             else "voice" if channel == "phone" else "email" if channel in ("email", "web")
             else "chat")
    return "%s-%s" % (group, lang)


class Ticket:
    __slots__ = ("id", "channel", "priority", "public", "category", "subject", "customer",
                 "queue", "created_sim", "fr_due_sim", "res_due_sim", "awaiting_reply",
                 "exchanges", "paused_at", "incident", "agent")


class Simulation:
    """A support day as a discrete-event simulation. Actions are (simulated
    time, sequence number, function, arguments) on a heap; each may emit
    events and schedule more actions."""

    def __init__(self, seed, speed=60.0, rate=1.0, start_sim=8 * HOUR, dues=True,
                 priorities=True, id_prefix=None):
        self.rng = random.Random(seed)
        self.seed = seed
        self.speed = speed
        self.rate = rate
        self.dues = dues
        self.priorities = priorities
        self.id_prefix = id_prefix or "evt-%d" % seed
        self.heap = []
        self.seq = 0
        self.n_events = 0
        self.n_tickets = 0
        self.sim0 = start_sim
        self.now_sim = start_sim
        self.now_ms = 0             # the wall clock the current events are stamped with
        self.tickets = {}
        self.incident = None
        self.surge_waiting = []
        self.out = []
        self.rate_max = max(HOURLY_RATE) * rate
        self.at(start_sim, self.arrival)
        self.at(start_sim, self.new_day)
        self.at(math.floor(start_sim / HOUR) * HOUR + HOUR, self.maybe_burst)

    # ---- scheduling --------------------------------------------------------

    def at(self, t, fn, *args):
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fn, args))

    def next_time(self):
        return self.heap[0][0] if self.heap else None

    def step(self, now_ms):
        """Runs the next action; returns its events, stamped with now_ms."""
        t, _, fn, args = heapq.heappop(self.heap)
        self.now_sim = t
        self.now_ms = now_ms
        fn(*args)
        out, self.out = self.out, []
        return out

    def wall_ms(self, t_sim):
        """The wall time of simulated moment t_sim, relative to now."""
        return self.now_ms + round((t_sim - self.now_sim) * 1000 / self.speed)

    # ---- events ------------------------------------------------------------

    def emit(self, type_, ticket=None, fields=None, **extra):
        self.n_events += 1
        ev = {"v": 1, "id": "%s-%d" % (self.id_prefix, self.n_events), "type": type_,
              "ts": rfc3339(self.now_ms)}
        if ticket is not None:
            ev["ticket"] = {"id": ticket.id}
            if fields:
                ev["ticket"].update(fields)
        ev.update(extra)
        self.out.append(ev)

    def dues_of(self, tk, first=True, resolution=True):
        """The ticket's due times as an event field, unless --no-dues."""
        if not self.dues:
            return {}
        due = {}
        if first:
            due["first_response"] = rfc3339(self.wall_ms(tk.fr_due_sim))
        if resolution:
            due["resolution"] = rfc3339(self.wall_ms(tk.res_due_sim))
        return {"due": due}

    # ---- arrivals ----------------------------------------------------------

    def hour_rate(self, t):
        return HOURLY_RATE[int(t // HOUR) % 24] * self.rate

    def arrival(self):
        """Poisson arrivals with an hour-of-day rate, by thinning."""
        r = self.rng
        if r.random() * self.rate_max < self.hour_rate(self.now_sim):
            self.new_ticket()
        self.at(self.now_sim + r.expovariate(self.rate_max / HOUR), self.arrival)

    def maybe_burst(self):
        """Now and then a handful of tickets within minutes (a post going
        viral, a newsletter, a courier depot running late)."""
        r = self.rng
        if r.random() < BURST_P * self.hour_rate(self.now_sim) / self.rate_max:
            lang = self.pick_lang()
            channel = r.choice(["facebook", "instagram", "email", "chat", "telegram"])
            category = r.choice(["complaint", "technical", "question"])
            for _ in range(r.randint(3, 8)):
                self.at(self.now_sim + r.uniform(0, 6 * MIN), self.new_ticket, channel, lang,
                        category)
        self.at(self.now_sim + HOUR, self.maybe_burst)

    def new_day(self):
        """Schedules today's major incident and tomorrow's new_day."""
        r = self.rng
        day_start = math.floor(self.now_sim / DAY) * DAY
        when = day_start + r.uniform(10 * HOUR, 15.5 * HOUR)
        if when >= self.now_sim:
            self.at(when, self.incident_open)
        self.at(day_start + DAY, self.new_day)

    def pick_lang(self):
        langs = list(LANGS)
        return self.rng.choices(langs, [LANGS[l][0] for l in langs])[0]

    # ---- a ticket's life ---------------------------------------------------

    def new_ticket(self, channel=None, lang=None, category=None, subject=None, incident=False):
        r = self.rng
        channel = channel or r.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        lang = lang or self.pick_lang()
        category = category or r.choices(list(CATEGORIES),
                                         [c[0] for c in CATEGORIES.values()])[0]
        _, prio_w, public_bias, _ = CATEGORIES[category]
        # During an incident people post where others can see it.
        public_p = 0.75 if incident else min(0.9, 0.45 * public_bias)
        public = channel in SOCIAL and r.random() < public_p
        prio_w = list(prio_w)
        if public:           # a public post is seen by everyone: answer it first
            prio_w[2] += 25
            prio_w[3] += 10
        priority = r.choices(PRIORITIES, prio_w)[0]
        if incident:
            priority = r.choices(["normal", "high", "urgent"], [60, 35, 5])[0]

        self.n_tickets += 1
        tk = Ticket()
        tk.id = "T-%d" % (1000 + self.n_tickets)
        tk.channel, tk.priority, tk.public, tk.category = channel, priority, public, category
        tk.subject = subject or r.choice(SUBJECTS[lang][category])
        tk.customer = r.choice(LANGS[lang][1])
        tk.queue = queue_of(channel, lang)
        tk.created_sim = self.now_sim
        tk.fr_due_sim = self.now_sim + first_response_budget(channel, priority, public)
        tk.res_due_sim = self.now_sim + resolution_budget(channel, priority, public)
        tk.awaiting_reply = True
        tk.exchanges = 0
        tk.paused_at = None
        tk.incident = incident
        tk.agent = None
        self.tickets[tk.id] = tk
        fields = {"channel": tk.channel, "priority": tk.priority, "public": tk.public,
                  "subject": tk.subject, "customer": tk.customer, "queue": tk.queue}
        if not self.priorities:
            del fields["priority"]
        fields.update(self.dues_of(tk))
        self.emit("ticket.created", tk, fields)

        if incident:
            # answered in batches with a public status update
            self.surge_waiting.append(tk.id)
            return
        self.schedule_answer(tk, first=True)

    def schedule_answer(self, tk, first):
        """When will an agent answer? Most in time; more are late at night
        and while an incident keeps everyone busy."""
        r = self.rng
        budget = tk.fr_due_sim - self.now_sim
        hour = int(self.now_sim // HOUR) % 24
        p_late = 0.12
        if hour < 7 or hour >= 20:
            p_late = 0.25
        if self.incident:
            p_late = 0.3
        late = r.random() < p_late
        delay = budget * (r.uniform(1.05, 1.8) if late else r.uniform(0.15, 0.95))
        self.at(self.now_sim + delay, self.reply, tk.id)
        if not first:
            return
        if r.random() < 0.5:
            self.at(self.now_sim + delay * r.uniform(0.05, 0.5), self.assign, tk.id)
        # The backend's own SLA events: some helpdesks send them, and the
        # board must take them when they come before its own clock.
        if delay > 0.8 * budget and r.random() < 0.5:
            self.at(self.now_sim + 0.8 * budget, self.backend_sla, tk.id, "sla.warning",
                    "first_response")
        if delay > budget and r.random() < 0.6:
            self.at(self.now_sim + budget + r.uniform(0, 20), self.backend_sla, tk.id,
                    "sla.breached", "first_response")
        if tk.priority != "urgent" and r.random() < 0.07:
            self.at(self.now_sim + budget * r.uniform(0.1, 0.4), self.raise_priority, tk.id)

    def open_ticket(self, tid):
        return self.tickets.get(tid)

    def assign(self, tid):
        tk = self.open_ticket(tid)
        if tk and tk.awaiting_reply:
            tk.agent = self.rng.choice(AGENTS)
            self.emit("ticket.assigned", tk, {"assignee": tk.agent}, agent=tk.agent)

    def backend_sla(self, tid, type_, sla):
        tk = self.open_ticket(tid)
        if tk and tk.exchanges == 0 and tk.awaiting_reply:
            self.emit(type_, tk, None, sla=sla)

    def raise_priority(self, tid):
        """A supervisor or a rule raises the priority before anyone answered;
        the first-response due moves earlier if the new budget is shorter."""
        tk = self.open_ticket(tid)
        if not tk or not tk.awaiting_reply or tk.exchanges:
            return
        tk.priority = PRIORITIES[PRIORITIES.index(tk.priority) + 1]
        due = tk.created_sim + first_response_budget(tk.channel, tk.priority, tk.public)
        fields = {"priority": tk.priority}
        if due < tk.fr_due_sim:
            tk.fr_due_sim = due
            fields.update(self.dues_of(tk, resolution=False))
        if self.priorities:     # a backend without priorities has nothing to say
            self.emit("ticket.updated", tk, fields)

    def reply(self, tid, via_update=False):
        """An agent answers. Then the ticket is settled, waits on the
        customer (SLA paused), or the customer writes back."""
        r = self.rng
        tk = self.open_ticket(tid)
        if not tk or not tk.awaiting_reply:
            return
        tk.awaiting_reply = False
        tk.exchanges += 1
        tk.agent = tk.agent or r.choice(AGENTS)
        self.emit("ticket.replied", tk, None, agent=tk.agent)
        if via_update:
            return      # solved when the incident is resolved
        settles = CATEGORIES[tk.category][3]
        if tk.exchanges >= MAX_EXCHANGES or r.random() < settles:
            self.at(self.now_sim + min(r.expovariate(1 / (2 * HOUR)), 30 * HOUR) + 5 * MIN,
                    self.solve, tid)
            return
        lo, hi = customer_pace(tk.channel)
        answer_in = r.uniform(lo, hi)
        if r.random() < PENDING_P:
            # The agent asked for an order number, a photo...: the helpdesk
            # sets the ticket to pending a minute or two after the answer.
            pause_at = self.now_sim + r.uniform(0.5, 3) * MIN
            self.at(pause_at, self.pause, tid)
            if r.random() < NO_ANSWER_P:
                self.at(pause_at + r.uniform(4, 8) * HOUR, self.solve, tid)
            else:
                self.at(pause_at + answer_in, self.customer_writes, tid)
        else:
            self.at(self.now_sim + answer_in, self.customer_writes, tid)

    def pause(self, tid):
        tk = self.open_ticket(tid)
        if tk and tk.paused_at is None:
            tk.paused_at = self.now_sim
            self.emit("sla.paused", tk)

    def customer_writes(self, tid):
        """The customer answers: the SLA clock runs again and a next
        response is due (a first_response due moved past a reply)."""
        tk = self.open_ticket(tid)
        if not tk:
            return
        if tk.paused_at is not None:
            tk.res_due_sim += self.now_sim - tk.paused_at
            tk.paused_at = None
            self.emit("sla.resumed", tk)
        tk.fr_due_sim = self.now_sim + first_response_budget(tk.channel, tk.priority,
                                                             tk.public)
        tk.awaiting_reply = True
        self.emit("ticket.updated", tk, self.dues_of(tk, resolution=False))
        self.schedule_answer(tk, first=False)

    def solve(self, tid):
        r = self.rng
        tk = self.open_ticket(tid)
        if not tk:
            return
        if tk.paused_at is None and self.now_sim > tk.res_due_sim and r.random() < 0.5:
            self.emit("sla.breached", tk, None, sla="resolution")
        self.emit("ticket.solved", tk, None)
        del self.tickets[tid]
        # Most helpdesks close a solved ticket some hours later and say so.
        if r.random() < 0.7:
            self.at(self.now_sim + r.uniform(1 * HOUR, 6 * HOUR), self.close, tk)

    def close(self, tk):
        self.emit("ticket.closed", tk, None)

    # ---- the incident ------------------------------------------------------

    def incident_open(self):
        r = self.rng
        day = int(self.now_sim // DAY) + 1
        title, subjects = INCIDENTS[r.randrange(len(INCIDENTS))]
        self.incident = {"id": "INC-%d-%d" % (self.seed, day), "title": title}
        self.emit("incident.opened", incident=dict(self.incident))
        # the surge: many near-duplicate complaints, mostly public posts,
        # most of them in the first minutes; more than a normal peak hour
        surge = round(r.randint(40, 80) * self.rate)
        spread = r.uniform(20, 50) * MIN
        for _ in range(surge):
            lang = self.pick_lang()
            text = r.choice(subjects[lang])
            text = r.choice([text, text, text + "!", text.lower(),
                             text + " " + r.choice(SURGE_SUFFIXES)])
            channel = r.choices(*SURGE_CHANNELS)[0]
            self.at(self.now_sim + spread * r.betavariate(1, 2.5), self.new_ticket, channel,
                    lang, "complaint", text, True)
        # public status updates answer the waiting ones in batches
        first = r.uniform(8, 20) * MIN
        for k in range(4):
            self.at(self.now_sim + first + k * r.uniform(12, 20) * MIN, self.status_update)
        self.at(self.now_sim + r.uniform(60, 150) * MIN, self.incident_resolve)

    def status_update(self):
        waiting, self.surge_waiting = self.surge_waiting, []
        for tid in waiting:
            self.reply(tid, via_update=True)

    def incident_resolve(self):
        r = self.rng
        if not self.incident:
            return
        self.status_update()
        self.emit("incident.resolved", incident=dict(self.incident))
        self.incident = None
        for tid, tk in list(self.tickets.items()):
            if tk.incident:
                self.at(self.now_sim + r.uniform(2, 40) * MIN, self.solve, tid)
