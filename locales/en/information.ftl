# Information service (flows/information.yaml). All ids start with `info-`.
# Every message is at most 300 plain GSM-7 characters (2 SMS): no emoji, no curly quotes,
# no long dashes.

info-intro = The information here is general. If you are in danger, type "emergency" at any time.
info-topics = Choose a topic to read:
info-topic-tpks = Sexual violence
info-topic-kinds = Kinds of violence
info-topic-rights = Your rights
info-topic-report = How to report
info-topic-legal = Legal aid
info-topic-health = Health
info-topic-empower = Economic empowerment
info-topic-after = After reporting
info-done = Done
info-next = Is there another topic you would like to read?
info-next-topics = Other topics

# 1. Law No. 12 of 2022 (TPKS)
info-tpks-1 =
    Law No. 12 of 2022 on Sexual Violence Crimes (TPKS), Article 4(1), lists 9 forms:
    - non-physical sexual harassment
    - physical sexual harassment
    - forced contraception
    - forced sterilisation
    - forced marriage
    - sexual torture
    - sexual exploitation
    - sexual slavery
    - electronic-based sexual violence
info-tpks-2 = Article 4(2) adds further acts, among them rape, obscene acts, sexual acts against children, trafficking for sexual exploitation, and sexual violence within the household.
info-tpks-3 = Important: under Article 23 of the TPKS Law, sexual violence cases may not be settled out of court, including through "peace" or family arrangements. Whatever happened, it is not your fault. UPTD PPA and SAPA 129 can accompany you.

# 2. Kinds of violence
info-kinds-1 =
    Violence can take many forms, including:
    - Physical: hitting, kicking or hurting the body.
    - Psychological: insults, threats, frightening or controlling you.
    - Sexual: sexual acts without your consent.
    - Neglect: not providing the support or care someone is responsible for.
info-kinds-2 =
    - Exploitation: using you for someone else's gain, for example forced work without pay.
    - Trafficking in persons (TPPO): recruiting, moving or holding people by deceit or force in order to exploit them.
info-kinds-3 = Most violence against women that is reported happens within the household (domestic violence, KDRT). Whatever form it takes, it is not your fault, and you have the right to help.

# 3. Your rights
info-rights-1 =
    As a survivor, you have the right:
    - to be believed and treated with respect
    - to confidentiality
    - to protection
    - to decide for yourself what steps to take
info-rights-2 = You also have the right to services, such as accompaniment, health care, legal aid, psychological support and a safe temporary place to stay if needed. You can ask questions first, and you do not have to decide everything now.

# 4. How to report
info-report-1 = You can report to the UPTD PPA (the regional unit for the protection of women and children) of your regency/city or province. Its services: complaints, outreach, case management, temporary shelter, mediation and accompaniment.
info-report-2 = Mediation is not for sexual violence: sexual violence cases may not be settled out of court. SAPA 129 also takes reports: call 129 (021-129 from a mobile) or WhatsApp 08111-129-129. SAPA 129 passes them on to the UPTD PPA in your area.
info-report-3 = You can also report at the nearest police station. In an emergency, call the police on 110 or the emergency number 112, or type "emergency" here.

# 5. Legal aid
info-legal-1 = The UPTD PPA can accompany you, including through legal proceedings, and refer you to legal aid services. Legal aid organisations (LBH) give free legal help to people who cannot afford to pay.
info-legal-2 = To find the nearest LBH, ask the UPTD PPA or SAPA 129 (call 129, WhatsApp 08111-129-129). You can ask questions first before deciding on any step.

# 6. Health
info-health-1 = If you are hurt or feel unwell, go to a puskesmas (community health centre) or a hospital. After sexual violence, seek health care as soon as you can, ideally within 72 hours (3 days).
info-health-2 = Within 72 hours, health workers can give emergency contraception to prevent pregnancy and medicine to prevent HIV. Even after that, still go: you can still be helped. If it is safe, keep the clothes you wore, unwashed, as they can be evidence.
info-health-3 = Health workers must keep your information confidential. You can ask questions before any examination, and you can ask for a companion to be with you, for example from the UPTD PPA.

# 7. Economic empowerment
info-empower-1 = Women's empowerment service providers (LPLPP) offer information, consultation, training and networking in politics, law, health, the environment, education and the economy, for example business training.
info-empower-2 = Many LPLPP are women's organisations at regency level. To find one near you, ask the UPTD PPA or the local government office for women's empowerment.

# 8. After reporting
info-after-1 =
    After you report:
    - your complaint is received
    - staff sort it by kind of case, level of risk and which agency is responsible
    - your situation and needs are assessed further
    - a plan of support is made together with you
info-after-2 = Every service is recorded in SIMFONI PPA, the national information system for the protection of women and children. At every step, you can ask questions and make your own choices.
